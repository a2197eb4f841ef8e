from notifications.services import unread_count


def unread(request):
    """The count shown beside "Notifications" in the account bar; one query per page."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"notifications_unread": unread_count(user)}
