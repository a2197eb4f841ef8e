from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMultiAlternatives
from django.template import loader
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import User


def password_reset_email_send(*, user: User, domain: str, use_https: bool) -> None:
    """Email `user` a one-time link to choose a new password."""
    context = {
        "user": user,
        "domain": domain,
        "protocol": "https" if use_https else "http",
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "token": default_token_generator.make_token(user),
    }
    subject = "".join(
        loader.render_to_string("accounts/email/password_reset_subject.txt", context).splitlines()
    )
    body = loader.render_to_string("accounts/email/password_reset_email.txt", context)
    EmailMultiAlternatives(subject, body, to=[user.email]).send()
