from agencies.access import active_membership, usable_memberships


class ActiveMembershipMiddleware:
    """Puts the membership the user is acting in on `request.membership` (None if they have none).

    Worked out eagerly rather than lazily: a lazy proxy around None is not None, and the access
    checks compare against None.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Read once per request: the navigation lists the others for the role switcher.
        request.usable_memberships = usable_memberships(request.user)
        request.membership = active_membership(request, request.usable_memberships)
        return self.get_response(request)
