"""Shared fixtures for the fhird end-to-end suite driven by third-party FHIR clients.

The server root comes from the environment variable FHIRD_URL, for example
``http://127.0.0.1:8080``. The default FHIR base is ``$FHIRD_URL/fhir``; payer
partitions live at ``$FHIRD_URL/payer/{payerId}/fhir``.

Without FHIRD_URL, or with a server that does not answer, every test fails
(on purpose: a suite that silently skips proves nothing).
"""

import os
import uuid

import pytest
import requests

TIMEOUT = 30  # seconds, for every HTTP request the suite makes itself

FHIR_JSON = "application/fhir+json"


def _root_url():
    url = os.environ.get("FHIRD_URL", "").strip()
    if not url:
        pytest.fail(
            "FHIRD_URL is not set: point it at a running fhird root, "
            "e.g. FHIRD_URL=http://127.0.0.1:8080",
            pytrace=False,
        )
    return url.rstrip("/")


@pytest.fixture(scope="session")
def root_url():
    url = _root_url()
    try:
        r = requests.get(
            f"{url}/fhir/metadata", headers={"Accept": FHIR_JSON}, timeout=TIMEOUT
        )
    except requests.RequestException as exc:  # pragma: no cover - environment
        pytest.fail(f"fhird at {url} is not reachable: {exc}", pytrace=False)
    if r.status_code != 200:
        pytest.fail(
            f"GET {url}/fhir/metadata answered {r.status_code}, not 200: {r.text[:500]}",
            pytrace=False,
        )
    return url


@pytest.fixture(scope="session")
def base_url(root_url):
    """The default partition's FHIR base."""
    return f"{root_url}/fhir"


@pytest.fixture(scope="session")
def http():
    """A plain requests session for raw checks (headers, exact bytes, status codes)."""
    s = requests.Session()
    s.headers.update({"Accept": FHIR_JSON})
    yield s
    s.close()


@pytest.fixture(scope="session")
def fhirpy_client(base_url):
    from fhirpy import SyncFHIRClient

    return SyncFHIRClient(base_url, requests_config={"timeout": TIMEOUT})


@pytest.fixture
def smart_server(base_url):
    """The SMART on FHIR python client (PyPI `fhirclient`), open server, no auth."""
    from fhirclient import client

    smart = client.FHIRClient(settings={"app_id": "fhird-pytest", "api_base": base_url})
    return smart.server


@pytest.fixture
def uid():
    """A fresh id fragment so the suite can run again and again on the same store."""
    return uuid.uuid4().hex


def path_and_query(url):
    """Relative part of an absolute link the server produced (its base URL may be
    configured to a host name other than the one the suite uses)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.fixture
def follow(root_url, http):
    """GET a link the server returned, against FHIRD_URL's host."""

    def _follow(url, **kw):
        return http.get(root_url + path_and_query(url), timeout=TIMEOUT, **kw)

    return _follow


@pytest.fixture
def payer_org(fhirpy_client, uid):
    """A fresh payer Organization in the default partition; yields its id."""
    org_id = f"payer-{uid[:20]}"
    org = fhirpy_client.resource(
        "Organization",
        id=org_id,
        active=True,
        name=f"Test Payer {uid[:8]}",
        type=[
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                        "code": "pay",
                        "display": "Payer",
                    }
                ]
            }
        ],
    )
    org.save()  # PUT with a client-chosen id: update-as-create
    assert org["id"] == org_id
    return org_id
