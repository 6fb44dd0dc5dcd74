"""Failed-login throttling: refuse a user or a client address after repeated failures, cheaply.

A password check costs an argon2 hash (tens of milliseconds of CPU, by design). Without a limit,
anyone who can reach the port may guess passwords as fast as the server hashes, and keep its
cores busy doing so. ``LoginThrottle`` is asked *before* any credential is checked:

* **two keys per attempt**: the user name and the client address. After ``max_failures``
  failures of one key within ``window_seconds`` the key is locked: its further attempts are
  refused at once (``LoginThrottled``, "too many failed logins; try again in N s"), the right
  password included, without touching argon2. The user key stops guessing one account from many
  addresses; the address key stops one address from spraying guesses over many accounts (an
  IPv6 address counts as its /64: one subscriber gets a whole /64 to pick addresses from).
* **same answer for every name**: an unknown user is counted, locked and refused exactly like a
  known one, so the throttle does not tell which names exist.
* **bounded and decaying** (fail2ban's ``bantime.increment``, Keycloak's wait increment): a lock
  lasts ``lockout_seconds``, doubling each time the key is locked again, up to 16x; a key quiet for
  that longest lock forgets its history. A user locked by someone else's guesses is therefore
  refused for minutes, never for good, and an address lock never stops the user elsewhere.
* **a success clears that pair**: a successful login removes the failures that *this user* made
  *from this address* from both keys. A user who mistyped gets a clean slate; an attacker cannot
  reset the address count by logging into their own account between guesses at others.
* **concurrent attempts count**: an attempt in progress holds a place in its keys' count, so a
  burst of parallel guesses gets at most ``max_failures`` checks, not one per thread.
* **bounded memory**: at most ``max_keys`` keys (user names are kept as digests, so a long name
  costs no more than a short one); when full, the least recently used key that is not locked is
  dropped (or, failing that among the oldest few, the oldest).

Pure and thread-safe; the clock is injectable. The Flight SQL server owns one per listener.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from flightmesh.mesh import AuthenticationError

__all__ = ["Attempt", "LoginThrottle", "LoginThrottled"]

MAX_BACKOFF = 16        # the longest lock, in multiples of lockout_seconds
_EVICTION_SCAN = 64     # how many of the oldest keys eviction looks through for an unlocked one

Key = tuple[str, bytes | str]


class LoginThrottled(AuthenticationError):
    """Refused before checking: too many failures for this user or from this address."""

    def __init__(self, retry_after_seconds: int, message: str | None = None) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(message or f"too many failed logins; try again in {retry_after_seconds} s")


@dataclass
class _Entry:
    failures: deque[tuple[float, Key | None]]   # (when, the other key of that attempt)
    in_flight: int = 0
    strikes: int = 0                            # locks so far (the next one lasts 2**strikes longer)
    locked_until: float = -math.inf


class LoginThrottle:
    """See the module docstring. ``max_failures`` 0 turns throttling off."""

    def __init__(self, max_failures: int, window_seconds: float, lockout_seconds: float, *,
                 max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self.lockout_seconds = lockout_seconds
        self.max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()  # least recently touched first

    def admit(self, user: str | None, address: str | None) -> Attempt:
        """An attempt for ``user`` from ``address`` (either may be unknown); raises LoginThrottled.

        The caller reports the outcome on the returned attempt: ``failed()``, ``succeeded()``, or
        ``abandon()`` when the check could not be made (the place it held is given back).
        """
        keys = tuple(key for key in (_user_key(user), _address_key(address)) if key is not None)
        if self.max_failures <= 0 or not keys:
            return Attempt(self, ())
        with self._lock:
            now = self._clock()
            wait, crowded = 0.0, False
            for key in keys:
                entry = self._entries.get(key)
                if entry is None:
                    continue
                self._age(entry, now)
                wait = max(wait, entry.locked_until - now)
                crowded = crowded or len(entry.failures) + entry.in_flight >= self.max_failures
            if wait > 0:
                raise LoginThrottled(max(1, math.ceil(wait)))
            if crowded:  # the attempts in progress would reach the limit if they all failed
                raise LoginThrottled(1, "too many login attempts at once; try again in 1 s")
            for key in keys:
                self._entry(key, now).in_flight += 1
        return Attempt(self, keys)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    # -- outcomes (through Attempt) ---------------------------------------------------------------

    def _finish(self, keys: tuple[Key, ...], outcome: str) -> None:
        with self._lock:
            now = self._clock()
            for key in keys:
                entry = self._entries.get(key)
                if entry is None:  # evicted meanwhile: nothing to update
                    continue
                entry.in_flight = max(0, entry.in_flight - 1)
                self._age(entry, now)
                other = next((k for k in keys if k != key), None)
                if outcome == "failed":
                    entry.failures.append((now, other))
                    self._entries.move_to_end(key)
                    if len(entry.failures) >= self.max_failures:
                        self._lock_out(entry, now)
                elif outcome == "succeeded":
                    kept = [(when, partner) for when, partner in entry.failures if partner != other]
                    entry.failures = deque(kept, maxlen=self.max_failures)
                if self._idle(entry, now):
                    del self._entries[key]

    # -- bookkeeping (under the lock) ------------------------------------------------------------

    def _entry(self, key: Key, now: float) -> _Entry:
        entry = self._entries.get(key)
        if entry is None:
            self._make_room(now)
            entry = self._entries[key] = _Entry(failures=deque(maxlen=self.max_failures))
        return entry

    def _lock_out(self, entry: _Entry, now: float) -> None:
        duration = self.lockout_seconds * min(2 ** entry.strikes, MAX_BACKOFF)
        entry.strikes = min(entry.strikes + 1, MAX_BACKOFF.bit_length())  # past the cap, counting is moot
        entry.locked_until = now + duration
        entry.failures.clear()  # the lock used them up: after it, the count starts again

    def _age(self, entry: _Entry, now: float) -> None:
        """Forget failures older than the window, and past locks after a quiet longest-lock."""
        while entry.failures and entry.failures[0][0] <= now - self.window_seconds:
            entry.failures.popleft()
        if entry.strikes and not entry.failures and now >= entry.locked_until + self._longest_lock:
            entry.strikes = 0

    def _idle(self, entry: _Entry, now: float) -> bool:
        return not entry.failures and not entry.in_flight and not entry.strikes and now >= entry.locked_until

    @property
    def _longest_lock(self) -> float:
        return self.lockout_seconds * MAX_BACKOFF

    def _make_room(self, now: float) -> None:
        while len(self._entries) >= max(1, self.max_keys):
            victim = next(iter(self._entries))
            for index, (key, entry) in enumerate(self._entries.items()):
                if index >= _EVICTION_SCAN:
                    break
                if entry.locked_until <= now and not entry.in_flight:
                    victim = key
                    break
            del self._entries[victim]


class Attempt:
    """One admitted login attempt; report its outcome once (later reports are ignored)."""

    def __init__(self, throttle: LoginThrottle, keys: tuple[Key, ...]) -> None:
        self._throttle = throttle
        self._keys = keys
        self._done = False

    def failed(self) -> None:
        self._report("failed")

    def succeeded(self) -> None:
        self._report("succeeded")

    def abandon(self) -> None:
        self._report("abandoned")

    def _report(self, outcome: str) -> None:
        if self._done or not self._keys:
            return
        self._done = True
        self._throttle._finish(self._keys, outcome)


def _user_key(user: str | None) -> Key | None:
    if user is None:
        return None
    # A digest: the name is the client's to choose, and may be as long as a header allows.
    return ("user", hashlib.blake2b(user.encode("utf-8", "surrogatepass"), digest_size=16).digest())


def _address_key(address: str | None) -> Key | None:
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return ("address", address)  # not an IP (a Unix socket path): the string itself
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ("address", str(ip.ipv4_mapped))
        # One IPv6 subscriber gets a whole /64: counting single addresses would be no limit at all.
        return ("address", str(ipaddress.IPv6Network((ip, 64), strict=False)))
    return ("address", str(ip))
