"""TXT values as cloud DNS APIs show them: some store the character-string with its quotes
(``"abc"``, Route 53 always; Cloudflare when it was written that way), some without."""

from __future__ import annotations


def quoted(value: str) -> str:
    """A DNS-01 value as one quoted character-string (the value never holds quotes or
    spaces: it is base64url)."""
    return f'"{value}"'


def unquoted(content: str) -> str:
    """The value of a single character-string, with or without its quotes."""
    if len(content) >= 2 and content.startswith('"') and content.endswith('"'):
        return content[1:-1]
    return content


def relative_name(fqdn: str, zone: str) -> str:
    """``fqdn`` relative to ``zone`` (both absolute, with the trailing dot); ``@`` for the
    apex. Raises ValueError when ``fqdn`` is not in ``zone``."""
    if fqdn == zone:
        return "@"
    suffix = "." + zone
    if not fqdn.endswith(suffix):
        raise ValueError(f"{fqdn} is not in zone {zone}")
    return fqdn[: -len(suffix)]
