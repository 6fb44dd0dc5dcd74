"""Where a server engine lives: ``scheme://user[:password]@host[:port]/database`` taken apart.

The descriptor keeps the password out of the URI when it can (``password: ${PG_PASSWORD}``);
either way it ends up here and only here. ``identity`` and ``redacted`` never contain it, so
they are safe for plans, logs and error messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from sqlglot import exp

__all__ = ["EngineAddress", "quoted_table"]


@dataclass(frozen=True)
class EngineAddress:
    scheme: str
    host: str
    port: int
    database: str
    user: str
    password: str | None = None
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, uri: str, *, default_port: int, password: str | None = None,
              default_user: str = "") -> EngineAddress:
        parts = urlsplit(uri)
        if not parts.hostname:
            raise ValueError("expected scheme://user@host:port/database")
        return cls(
            scheme=parts.scheme,
            host=parts.hostname,
            port=parts.port or default_port,
            database=unquote(parts.path.lstrip("/")),
            user=unquote(parts.username or default_user),
            password=password if password is not None else unquote(parts.password or "") or None,
            params=tuple(parse_qsl(parts.query)),
        )

    @property
    def identity(self) -> str:
        """Everything that decides what a statement can see; no secret."""
        return f"{self.scheme}://{self.user}@{self.host}:{self.port}/{self.database}"

    def uri(self, scheme: str | None = None, **extra: str) -> str:
        """The full URI with the password, for the driver only. ``extra`` adds query parameters."""
        credentials = quote(self.user, safe="")
        if self.password:
            credentials += ":" + quote(self.password, safe="")
        params = dict(self.params)
        for key, value in extra.items():
            params.setdefault(key, value)
        query = f"?{urlencode(params)}" if params else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        database = quote(self.database, safe="")
        return f"{scheme or self.scheme}://{credentials}@{host}:{self.port}/{database}{query}"


def quoted_table(source: str, dialect: str) -> exp.Table:
    """``schema.table`` (or ``table``) as a table expression whose every part is quoted.

    Quoting keeps the engine's spelling: a source written ``Orders`` means the table ``Orders``,
    and a name that happens to be a keyword still renders as a name.
    """
    table = exp.to_table(source, dialect=dialect)
    for part in ("this", "db", "catalog"):
        identifier = table.args.get(part)
        if isinstance(identifier, exp.Identifier):
            identifier.set("quoted", True)
    return table
