"""Completing the TOTP step in tests that sign in with a password, as a user's phone would."""

import time

from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice


def totp_code(device: TOTPDevice, step_offset: int = 0) -> str:
    """The code the device's app shows now, or `step_offset` steps from now."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + step_offset * device.step
    return f"{totp.token():06d}"


def unused_totp_code(device: TOTPDevice) -> str:
    """A code the device will still accept: the current one, or, when this test already used
    it (a second sign-in within 30 seconds), the next step's, which the one-step tolerance allows.
    Fails rather than sleeping if both are used."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    for offset in range(device.tolerance + 1):
        if totp.t() + offset > device.last_t:
            return totp_code(device, offset)
    raise AssertionError("every code within the tolerance has been used; sign in less often")


def confirmed_device_for(user) -> TOTPDevice:
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="Test app", confirmed=True)
