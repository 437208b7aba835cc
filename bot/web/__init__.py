"""The public, read-only website: every polyclinic and doctor on its own page, in kk, ru and en.

`add_web_routes(app, settings, pool, bot_username)` mounts it on any aiohttp app (the webhook server's, or the one
`medfeedback web` serves alone); see bot/web/site.py.
"""

from bot.web.site import Site, add_web_routes, make_web_app

__all__ = ["Site", "add_web_routes", "make_web_app"]
