"""big-accounts, in Python: keeps leads with at least `min_followers` followers."""

from wit_world import exports
from wit_world.exports import hooks
from wit_world.imports import settings, types
from componentize_py_types import Err


def count(raw):
    """Counts as people write them: "800", "12,400", "3.2k", "1.5M"."""
    text = raw.strip().lower()
    scale = 1.0
    if text.endswith("k"):
        text, scale = text[:-1].replace(",", "."), 1e3
    elif text.endswith("m"):
        text, scale = text[:-1].replace(",", "."), 1e6
    else:
        text = text.replace(",", "")
    try:
        value = float(text) * scale
    except ValueError:
        return None
    return value if value >= 0 else None


class Hooks(exports.Hooks):
    def manifest(self):
        return types.PluginManifest(
            name="big-accounts-py",
            version="0.1.0",
            description="Keeps leads with many followers (Python).",
            hooks=["filter"],
            permissions=["leads:read-pii"],
        )

    def filter(self, lead):
        minimum = float(settings.get("min_followers") or "1000")
        fields = dict((k.lower(), v) for k, v in lead.custom_fields)
        followers = count(fields.get("followers", "")) or 0.0
        return hooks.FilterDecision(
            keep=followers >= minimum,
            reason=f"{followers:g} followers, minimum {minimum:g}",
            tags=[],
            score=None,
        )

    def reply(self, event):
        raise Err(types.Error_Unavailable("no reply hook"))

    def follow_up(self, event):
        raise Err(types.Error_Unavailable("no follow-up hook"))
