from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from agencies.access import SignedInRequest, signed_in
from notifications.models import Notification


@signed_in
def notification_list(request: SignedInRequest) -> HttpResponse:
    paginator = Paginator(Notification.objects.filter(recipient=request.user), 50)
    page = paginator.get_page(request.GET.get("page"))
    page_range = paginator.get_elided_page_range(page.number, on_each_side=1, on_ends=1)
    return render(
        request, "notifications/list.html", {"page": page, "page_range": list(page_range)}
    )


@signed_in
def notification_open(request: SignedInRequest, pk: int) -> HttpResponse:
    """Mark it read and go where it points. Someone else's answers 404."""
    notification = Notification.objects.filter(pk=pk, recipient=request.user).first()
    if notification is None:
        raise Http404("No such notification.")
    if notification.read_at is None:
        Notification.objects.filter(pk=pk, read_at__isnull=True).update(read_at=timezone.now())
    # Links are written by ShareHub as paths; checked anyway, so a row can never redirect away.
    if not url_has_allowed_host_and_scheme(notification.link, allowed_hosts=None):
        return redirect("notifications:list")
    return redirect(notification.link)


@signed_in
@require_POST
def notifications_read_all(request: SignedInRequest) -> HttpResponse:
    Notification.objects.filter(recipient=request.user, read_at__isnull=True).update(
        read_at=timezone.now()
    )
    return redirect("notifications:list")
