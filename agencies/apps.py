from django.apps import AppConfig


class AgenciesConfig(AppConfig):
    name = "agencies"
    verbose_name = "Agencies and memberships"

    def ready(self) -> None:
        from agencies import sign_ins  # noqa: F401 - sign-ins and failed sign-ins are recorded
        from agencies.selectors import dataset_owners, record_owners
        from audit.owners import OwnerLookup, owner_lookup_register

        # The audit trail files each read under the agency whose records it showed, and asks
        # us whose they are: it sits below every app and imports none (audit.owners).
        owner_lookup_register(OwnerLookup(datasets=dataset_owners, records=record_owners))
