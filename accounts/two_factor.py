"""TOTP second factor: enrolment, verification and reset, on django-otp's TOTPDevice.

django-otp keeps the replay guard (a device's last_t: a code for a time step already used is
refused) and a growing delay after each wrong code (OTP_TOTP_THROTTLE_FACTOR), so neither is
reimplemented here.
"""

import base64

import segno
from django.conf import settings
from django.utils.safestring import SafeString, mark_safe
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User

# One device per user, found by this name, so a reset is deleting it and enrolling again.
DEVICE_NAME = "Authentication app"


def second_factor_passed(user: User) -> bool:
    """Whether this session's sign-in has passed the second factor."""
    # django_otp's OTPMiddleware puts is_verified() on the request's user as it loads it; no
    # model declares it, and django_otp has no type information, so mypy cannot know it.
    return user.is_verified()  # type: ignore[attr-defined]


def has_confirmed_device(user) -> bool:
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).exists()


def enrolment_device(user) -> TOTPDevice:
    """The unconfirmed device being enrolled, made on first visit; the same one on a reload,
    so the QR code scanned a minute ago still matches."""
    device = TOTPDevice.objects.devices_for_user(user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(
            user=user,
            name=DEVICE_NAME,
            confirmed=False,
            # django-otp keeps the tolerance per device (default 1); ours comes from settings,
            # where the reason for it is written down.
            tolerance=settings.OTP_TOTP_TOLERANCE,
        )
    return device


def manual_entry_secret(device: TOTPDevice) -> str:
    """The key in base32, as authentication apps ask for it, in groups of four for reading."""
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def qr_code_svg(device: TOTPDevice) -> SafeString:
    """The otpauth:// URL as an inline SVG drawn on the server: no image library, no script,
    and no style attribute for the Content-Security-Policy to refuse."""
    svg = segno.make(device.config_url, error="m").svg_inline(
        scale=5, dark="#0b0c0c", light="#ffffff", title="QR code for your authentication app"
    )
    # segno's own markup, made from a URL we built; nothing a user typed is in it as text.
    return mark_safe(svg)  # noqa: S308  # nosec B308 B703


def enrolment_confirm(request, device: TOTPDevice, code: str) -> bool:
    """Confirm the device with its first code and count this session as verified."""
    if not device.verify_token(code):
        return False
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    otp_login(request, device)
    return True


def verification_check(request, code: str) -> bool:
    """Verify a sign-in code against the user's confirmed device; a code already used fails."""
    device = TOTPDevice.objects.devices_for_user(request.user, confirmed=True).first()
    if device is None or not device.verify_token(code):
        return False
    otp_login(request, device)
    return True


def devices_reset(user) -> int:
    """Forget a user's devices (a lost phone): they enrol afresh at their next sign-in."""
    deleted, _ = TOTPDevice.objects.devices_for_user(user, confirmed=None).delete()
    return deleted
