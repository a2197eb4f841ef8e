from django.db import models


class DataKey(models.Model):
    """One version of an agency's data key, stored only wrapped by a master key (core.keys)."""

    agency = models.ForeignKey("agencies.Agency", on_delete=models.PROTECT, related_name="+")
    version = models.PositiveIntegerField()
    wrapped_key = models.BinaryField()
    master_key_version = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Set by data key rotation once nothing is sealed under this version any more. Nothing new is
    # sealed with it (sealing always takes the newest version); it is kept so that a straggler
    # sealed under it still opens.
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # The table keeps the name it had when the model was in sharehub/: moving it changed no
        # table, so a process of the release before reads its keys throughout a deployment.
        db_table = "sharehub_datakey"
        constraints = [
            models.UniqueConstraint(fields=["agency", "version"], name="datakey_unique_version")
        ]

    def __str__(self) -> str:
        return f"data key {self.version} of agency {self.agency_id}"
