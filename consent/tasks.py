from celery import shared_task

from consent.overrides import overrides_expire as overrides_expire_now


@shared_task(ignore_result=True)
def overrides_expire() -> None:
    """Periodic (beat, every minute): announce overrides whose time ran out. Idempotent: each
    is claimed once. Access itself ends at expiry whether or not this has run."""
    overrides_expire_now()
