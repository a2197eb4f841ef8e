from functools import partial

from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.contrib.auth.tokens import PasswordResetTokenGenerator, default_token_generator
from django.db import transaction
from django.http import HttpRequest

from accounts.ratelimits import count_one, typed_client
from accounts.tasks import send_password_reset_email


class SignInForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email address",
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
    )
    error_messages = {
        # The same message whether the email or the password was wrong, so the form does not
        # tell anyone which staff email addresses have accounts.
        "invalid_login": (
            "Enter a correct email address and password. The password is case-sensitive."
        ),
        "inactive": "This account has been deactivated. Ask your agency admin if you need access.",
    }


class PasswordResetRequestForm(PasswordResetForm):
    email = forms.EmailField(
        label="Email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
    )

    def save(
        self,
        domain_override: str | None = None,
        subject_template_name: str = "registration/password_reset_subject.txt",
        email_template_name: str = "registration/password_reset_email.html",
        use_https: bool = False,
        token_generator: PasswordResetTokenGenerator = default_token_generator,
        from_email: str | None = None,
        request: HttpRequest | None = None,
        html_email_template_name: str | None = None,
        extra_email_context: dict[str, str] | None = None,
    ) -> None:
        """Send each matching user a reset link from a Celery task, after this request commits.

        Only the user id crosses the broker; the token is made in the worker, so no address or
        token sits in Redis. Past settings.SHAREHUB_RATE_LIMITS["password_reset_address"]
        requests for one address in the window nothing is sent, and the page says what it always
        says: counted for every address asked about, so the limit does not tell which exist.

        Django's signature, so the view can call it as it calls its own; the templates, token
        generator and sender it passes are not used: the worker's email is ours
        (accounts.services.password_reset_email_send).
        """
        email = self.cleaned_data["email"]
        within, _ = count_one("password_reset_address", typed_client(email))
        if not within:
            return
        domain = domain_override or (request.get_host() if request else "localhost")
        for user in self.get_users(email):
            transaction.on_commit(
                partial(
                    send_password_reset_email.delay,
                    user_id=user.pk,
                    domain=domain,
                    use_https=use_https,
                )
            )


class TwoFactorCodeForm(forms.Form):
    """The six-digit code from an authentication app; spaces and hyphens some apps show are
    taken out before checking."""

    code = forms.CharField(
        label="Code from your authentication app",
        help_text="The 6-digit code the app shows for ShareHub, for example 123456.",
        max_length=20,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "spellcheck": "false",
            }
        ),
    )

    def __init__(self, *args, check=None, **kwargs):
        # check(code) -> bool: the device decides; the form only reports the answer.
        self._check = check
        super().__init__(*args, **kwargs)

    def clean_code(self) -> str:
        code = "".join(ch for ch in self.cleaned_data["code"] if ch not in " -")
        if not code.isdigit() or len(code) != 6:
            raise forms.ValidationError(
                "Enter the 6-digit code from your authentication app, using numbers only."
            )
        if self._check is not None and not self._check(code):
            raise forms.ValidationError(
                "The code is not right or has already been used. Wait for the app to show a "
                "new code and enter that."
            )
        return code
