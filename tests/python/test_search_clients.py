"""Search through real third-party clients: ``fhirpy``'s search sets (criteria, prefixes,
modifiers, chains, ``_has``, includes, sorting, ``count()`` and ``fetch_all()``, which
follows the server's ``next`` links page by page) and ``fhirclient``'s ``FHIRSearch``.

Every test writes its own resources under a fresh identifier, so expected answers are
exactly the resources it made, on whichever store the server runs.
"""

import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome
from fhirpy.base.searchset import Raw

from conftest import TIMEOUT

LOINC = "http://loinc.org"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


@pytest.fixture
def patient(fhirpy_client, uid):
    p = fhirpy_client.resource(
        "Patient",
        identifier=[{"system": "urn:fhird:search", "value": uid}],
        name=[{"family": f"Searchable-{uid[:8]}", "given": ["Zoë"]}],
        gender="female",
        birthDate="1980-05-17",
    )
    p.save()
    return p


def _observations(client, patient, n, code="8867-4", start_day=1):
    made = []
    for i in range(n):
        o = client.resource(
            "Observation",
            status="final",
            code={"coding": [{"system": LOINC, "code": code}]},
            subject=patient.to_reference(),
            effectiveDateTime=f"2021-03-{start_day + i:02d}T10:00:00Z",
            valueQuantity={
                "value": 60 + i,
                "unit": "/min",
                "system": "http://unitsofmeasure.org",
                "code": "/min",
            },
        )
        o.save()
        made.append(o)
    return made


def _ids(resources):
    return sorted(r.id for r in resources)


def test_fetch_all_follows_next_links_to_every_match(fhirpy_client, patient):
    made = _observations(fhirpy_client, patient, 23)
    search = (
        fhirpy_client.resources("Observation")
        .search(subject=patient.to_reference().reference)
        .limit(5)
    )
    first_page = search.fetch()
    assert len(first_page) == 5
    found = search.fetch_all()
    assert _ids(found) == _ids(made), "pages must add up to the matches, no duplicates"


def test_prefixes_sort_and_quantities(fhirpy_client, patient):
    made = _observations(fhirpy_client, patient, 10)
    by_patient = fhirpy_client.resources("Observation").search(subject=patient.id)
    # Dates: effective on or after March 6th (6..10) and before March 9th (6, 7, 8).
    window = by_patient.search(date__ge="2021-03-06", date__lt="2021-03-09")
    assert _ids(window.fetch_all()) == _ids(made[5:8])
    # Quantities: value > 66 per minute -> 67, 68, 69.
    high = by_patient.search(
        **{"value-quantity": "gt66|http://unitsofmeasure.org|/min"}
    )
    assert _ids(high.fetch_all()) == _ids(made[7:])
    # Sorted newest first.
    newest = by_patient.sort("-date").limit(3).fetch()
    assert [o.id for o in newest] == [o.id for o in reversed(made[-3:])]


def test_two_sided_date_window_over_all_observations(fhirpy_client, patient, uid):
    """`date=geX&date=ltY` with no other criterion: the stores answer it from the
    resources' date hulls (SQLite's hull index, MongoDB's hull keys), which must find a
    resource inside the day, one whose Period spans it and one with values on both sides,
    and leave out one after it. No other test writes Observations in 1903."""
    code = {"coding": [{"system": "urn:fhird:test", "code": uid}]}

    def obs(**effective):
        o = fhirpy_client.resource(
            "Observation",
            status="final",
            code=code,
            subject=patient.to_reference(),
            **effective,
        )
        o.save()
        return o

    inside = obs(effectiveDateTime="1903-02-10T08:00:00Z")
    same_day = obs(effectiveDateTime="1903-02-10")
    spanning = obs(effectivePeriod={"start": "1903-02-01", "end": "1903-03-01"})
    after = obs(effectiveDateTime="1903-02-12")
    window = fhirpy_client.resources("Observation").search(
        date__ge="1903-02-10", date__lt="1903-02-11"
    )
    found = {o.id for o in window.fetch_all()}
    assert {inside.id, same_day.id, spanning.id} <= found
    assert after.id not in found
    # The same window narrowed by this test's code: exactly the three.
    mine = window.search(code=f"urn:fhird:test|{uid}")
    assert _ids(mine.fetch_all()) == _ids([inside, same_day, spanning])


def test_chain_has_and_include(fhirpy_client, patient, uid):
    made = _observations(fhirpy_client, patient, 3, code="29463-7")
    chained = fhirpy_client.resources("Observation").search(
        **{"subject:Patient.identifier": f"urn:fhird:search|{uid}"}
    )
    assert _ids(chained.fetch_all()) == _ids(made)
    # Reverse chain: the patient who has a body-weight Observation.
    has = fhirpy_client.resources("Patient").has(
        "Observation", "subject", code=f"{LOINC}|29463-7"
    ).search(identifier=f"urn:fhird:search|{uid}")
    assert [p.id for p in has.fetch_all()] == [patient.id]
    # _include brings the patient along; fhirpy returns matches and included resources.
    bundle = (
        fhirpy_client.resources("Observation")
        .search(subject=patient.id)
        .include("Observation", "subject")
        .fetch_raw()
    )
    modes = {(e.resource.resourceType, e.search["mode"]) for e in bundle.entry}
    assert modes == {("Observation", "match"), ("Patient", "include")}


@pytest.fixture
def lenient_client(base_url):
    """fhirpy with `Prefer: handling=lenient`, which its count() needs (see below)."""
    return SyncFHIRClient(
        base_url,
        requests_config={"timeout": TIMEOUT},
        extra_headers={"Prefer": "handling=lenient"},
    )


def test_string_and_token_modifiers(lenient_client, patient, uid):
    patients = lenient_client.resources("Patient").search(
        identifier=f"urn:fhird:search|{uid}"
    )
    # Accent- and case-insensitive starts-with; :exact keeps both.
    assert patients.search(given="zoe").count() == 1
    assert patients.search(**{"given:exact": "Zoe"}).count() == 0
    assert patients.search(**{"given:exact": "Zoë"}).count() == 1
    assert patients.search(**{"family:contains": uid[2:6]}).count() == 1
    assert patients.search(**{"gender:not": "male"}).count() == 1
    # No address; `deceased` always has a value (its expression yields true or false).
    assert patients.search(**{"address:missing": "true"}).count() == 1
    assert patients.search(**{"deceased:missing": "true"}).count() == 0
    assert patients.search(deceased="false").count() == 1
    assert patients.search(birthdate="1980-05").count() == 1
    assert patients.search(birthdate="ne1980-05-17").count() == 0


def test_count_with_lenient_handling_of_fhirpy_total_method(
    base_url, lenient_client, patient, uid
):
    # fhirpy's count() sends `_count=0&_totalMethod=count`; `_totalMethod` is not a FHIR
    # parameter, so a strict server refuses it and a lenient request ignores it.
    strict = SyncFHIRClient(base_url, requests_config={"timeout": TIMEOUT})
    with pytest.raises(OperationOutcome) as e:
        strict.resources("Patient").search(identifier=f"urn:fhird:search|{uid}").count()
    assert "_totalMethod" in str(e.value)
    assert (
        lenient_client.resources("Patient").search(identifier=f"urn:fhird:search|{uid}").count()
        == 1
    )


def test_terminology_modifiers(fhirpy_client, patient, uid):
    system = f"urn:fhird:codes:{uid}"
    fhirpy_client.resource(
        "CodeSystem",
        url=system,
        status="active",
        content="complete",
        concept=[
            {"code": "a", "concept": [{"code": "a1"}, {"code": "a2"}]},
            {"code": "b"},
        ],
    ).save()
    vs_url = f"urn:fhird:vs:{uid}"
    fhirpy_client.resource(
        "ValueSet",
        url=vs_url,
        status="active",
        compose={"include": [{"system": system, "concept": [{"code": "a2"}, {"code": "b"}]}]},
    ).save()
    conditions = {}
    for code in ["a", "a1", "a2", "b"]:
        c = fhirpy_client.resource(
            "Condition",
            code={"coding": [{"system": system, "code": code}]},
            subject=patient.to_reference(),
        )
        c.save()
        conditions[code] = c.id
    base = fhirpy_client.resources("Condition").search(subject=patient.id)

    def codes(search):
        got = {r.id for r in search.fetch_all()}
        return sorted(k for k, v in conditions.items() if v in got)

    assert codes(base.search(**{"code:below": f"{system}|a"})) == ["a", "a1", "a2"]
    assert codes(base.search(**{"code:above": f"{system}|a1"})) == ["a", "a1"]
    assert codes(base.search(**{"code:in": vs_url})) == ["a2", "b"]
    assert codes(base.search(**{"code:not-in": vs_url})) == ["a", "a1"]


def test_fhirclient_search(smart_server, patient, uid):
    from fhirclient.models.observation import Observation
    from fhirclient.models.patient import Patient

    found = list(
        Patient.where(
            struct={"identifier": f"urn:fhird:search|{uid}"}
        ).perform_resources_iter(smart_server)
    )
    assert [p.id for p in found] == [patient.id]
    assert found[0].name[0].given == ["Zoë"]
    none = Observation.where(
        struct={"subject": f"Patient/{patient.id}", "code": f"{LOINC}|0000-0"}
    ).perform_resources_iter(smart_server)
    assert list(none) == []


def test_unknown_parameter_is_a_clear_error(fhirpy_client, uid):
    with pytest.raises(OperationOutcome) as e:
        fhirpy_client.resources("Patient").search(shoe_size="42").fetch()
    assert "shoe" in str(e.value)
    with pytest.raises(OperationOutcome) as e:
        fhirpy_client.resources("Patient").search(birthdate="notadate").fetch()
    assert "birthdate" in str(e.value)
    with pytest.raises(OperationOutcome):
        fhirpy_client.resources("Condition").search(
            **{"code:in": f"urn:fhird:no-such-vs:{uid}"}
        ).fetch()
    # `Raw` passes a parameter name fhirpy would otherwise rewrite.
    assert (
        fhirpy_client.resources("Patient")
        .search(Raw(**{"_id": "no-such-id-" + uid[:8]}))
        .fetch()
        == []
    )


def test_list_membership(fhirpy_client, patient, uid):
    """``_list``: a List's items, without the entries it marks deleted, combined with other
    criteria; an unknown List lists nothing."""
    kept, dropped, other = _observations(fhirpy_client, patient, 3)
    lst = fhirpy_client.resource(
        "List",
        status="current",
        mode="changes",
        subject=patient.to_reference(),
        entry=[
            {"item": kept.to_reference()},
            {"item": dropped.to_reference(), "deleted": True},
            {"item": patient.to_reference()},
        ],
    )
    lst.save()
    listed = fhirpy_client.resources("Observation").search(_list=lst.id)
    assert _ids(listed.fetch_all()) == [kept.id]
    assert _ids(fhirpy_client.resources("Patient").search(_list=lst.id).fetch_all()) == [
        patient.id
    ]
    assert listed.search(date__ge="2021-03-02").fetch_all() == []
    assert fhirpy_client.resources("Observation").search(_list=f"none-{uid[:8]}").fetch_all() == []
    assert other.id not in _ids(listed.fetch_all())


def test_near_finds_locations_within_a_distance(fhirpy_client, uid):
    """``near`` (Location.position): Ann Arbor and Detroit are 57.6 km apart by the
    haversine formula, Paris far from both; every Location carries this test's identifier."""
    ident = f"urn:fhird:search|{uid}"
    made = {}
    for name, (lat, lng) in {
        "aa": (42.2808, -83.7430),
        "det": (42.3314, -83.0458),
        "paris": (48.8566, 2.3522),
    }.items():
        loc = fhirpy_client.resource(
            "Location",
            name=f"{name}-{uid[:8]}",
            identifier=[{"system": "urn:fhird:search", "value": uid}],
            position={"latitude": lat, "longitude": lng},
        )
        loc.save()
        made[name] = loc.id
    locations = fhirpy_client.resources("Location").search(identifier=ident)

    def near(value):
        return _ids(locations.search(near=value).fetch_all())

    assert near("42.2808|-83.7430|10|km") == [made["aa"]]
    assert near("42.2808|-83.7430|57.5") == [made["aa"]]
    assert near("42.2808|-83.7430|57.7|km") == sorted([made["aa"], made["det"]])
    assert near("42.2808|-83.7430|36|[mi_i]") == sorted([made["aa"], made["det"]])
    assert near("48.8566|2.3522|1|m") == [made["paris"]]
    counted = locations.search(near="42.2808|-83.7430|57.7|km", _summary="count").fetch_raw()
    assert counted["total"] == 2
    with pytest.raises(OperationOutcome) as e:
        locations.search(near="95|0|1|km").fetch()
    assert "latitude" in str(e.value)


def test_text_searches_the_narrative_words(fhirpy_client, uid):
    """``_text`` with search.html's syntax, sent by fhirpy: words (each starting a word of the
    narrative, any case and accents), AND, OR, parentheses; NOT is refused with the reason.
    The word made from this test's id keeps other tests' resources out."""
    tag = "w" + uid.replace("-", "")[:12]
    made = {}
    for name, words in {
        "bone": "Metastases to bone",
        "liver": "Métastases in the LIVER",
        "lung": "Lung nodule, no metastases",
    }.items():
        cond = fhirpy_client.resource(
            "Condition",
            subject={"reference": "Patient/x"},
            text={
                "status": "generated",
                "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{words}</p> {tag}</div>',
            },
        )
        cond.save()
        made[name] = cond.id
    conditions = fhirpy_client.resources("Condition")

    def text(value):
        return _ids(conditions.search(_text=value).fetch_all())

    assert text(f"{tag} (bone OR liver) and metastases") == sorted([made["bone"], made["liver"]])
    assert text(f"{tag} metast") == sorted(made.values())
    assert text(f"{tag} liv") == [made["liver"]]
    assert text(f"{tag} nodule bone") == []
    with pytest.raises(OperationOutcome) as e:
        conditions.search(_text=f"{tag} NOT bone").fetch()
    assert "NOT" in str(e.value)


def test_filter_expressions(fhirpy_client, uid):
    """``_filter`` (search_filter.html) sent by fhirpy: equality, starts-with, dates, and/or
    left to right, ``not (…)``; an operator the server cannot answer exactly is refused with
    the reason. The family name made from this test's id keeps other tests' patients out."""
    family = "F" + uid.replace("-", "")[:12]
    made = {}
    for key, given, gender, born in [
        ("ann", "Ann", "female", "1970-05-01"),
        ("bob", "Bob", "male", "1985-02-03"),
        ("cy", "Cyrus", "male", "2001-11-30"),
    ]:
        p = fhirpy_client.resource(
            "Patient",
            name=[{"family": family, "given": [given]}],
            gender=gender,
            birthDate=born,
        )
        p.save()
        made[key] = p.id
    patients = fhirpy_client.resources("Patient")

    def found(expr):
        return _ids(patients.search(_filter=f'family eq "{family}" and ({expr})').fetch_all())

    def ids(*keys):
        return sorted(made[k] for k in keys)

    assert found("given eq bob") == ids("bob")
    assert found("given eq bo") == []
    assert found("given sw cy or given eq ANN") == ids("ann", "cy")
    assert found("gender eq male and birthdate ge 2000") == ids("cy")
    assert found("not (gender eq male)") == ids("ann")
    assert found("gender eq female or gender eq male and birthdate lt 1990") == ids("ann", "bob")
    # The same search with the filter ANDed to an ordinary parameter.
    assert _ids(
        patients.search(gender="male", _filter=f"family eq {family}").fetch_all()
    ) == ids("bob", "cy")
    with pytest.raises(OperationOutcome) as e:
        patients.search(_filter=f"family ew {family[-4:]}").fetch()
    assert "'ew' does not apply" in str(e.value)


def test_documents_are_found_by_their_composition(fhirpy_client, uid):
    """``Bundle?composition.…`` searches the Composition first in a document Bundle (chains
    from it and ``_filter`` included), sent by fhirpy."""
    family = "D" + uid.replace("-", "")[:12]
    patient = fhirpy_client.resource("Patient", name=[{"family": family}])
    patient.save()
    doc_type = {"coding": [{"system": LOINC, "code": "60591-5"}]}
    # fhirpy's save() posts a Bundle to the base as a transaction; a document is stored at
    # [base]/Bundle.
    document = fhirpy_client.execute(
        "Bundle",
        method="post",
        data=dict(
            resourceType="Bundle",
            type="document",
            identifier={"system": "urn:fhird:doc", "value": uid},
            timestamp="2024-01-02T03:04:05Z",
            entry=[
                {
                    "fullUrl": f"urn:uuid:{uid}",
                    "resource": {
                        "resourceType": "Composition",
                        "id": "c-" + uid[:8],
                        "status": "final",
                        "type": doc_type,
                        "subject": {"reference": f"Patient/{patient.id}"},
                        "date": "2024-01-02",
                        "author": [{"display": "Dr. A"}],
                        "title": f"Summary {family}",
                    },
                }
            ],
        ),
    )
    bundles = fhirpy_client.resources("Bundle")

    def found(**criteria):
        return _ids(bundles.search(**criteria).fetch_all())

    assert found(**{"composition.subject": f"Patient/{patient.id}"}) == [document["id"]]
    assert found(**{"composition.subject:Patient.family": family}) == [document["id"]]
    assert found(**{"composition.title": f"summary {family}", "type": "document"}) == [document["id"]]
    assert found(_filter=f'composition.title eq "Summary {family}"') == [document["id"]]
    assert found(**{"composition.subject:Patient.family": family + "x"}) == []
    with pytest.raises(OperationOutcome) as e:
        bundles.search(_include="Bundle:composition").fetch()
    assert "inside" in str(e.value)


def test_contained_resources_as_results(fhirpy_client, lenient_client, uid):
    """``_contained`` / ``_containedType`` sent by fhirpy: Medications contained in
    MedicationRequests found as their containers or as themselves, one Medication meeting
    every criterion, ``count()``, and ``fetch_all()`` following ``next`` links one
    container per page."""
    rx = "urn:fhird:rx:" + uid
    made = {}
    # (request key, [(local id, code, form)]): r3 holds a 1 and a tablet, not a 1 tablet.
    for key, meds in [
        ("r1", [("m", "1", "tablet")]),
        ("r2", [("m", "2", "tablet")]),
        ("r3", [("a", "1", "capsule"), ("b", "3", "tablet")]),
    ]:
        r = fhirpy_client.resource(
            "MedicationRequest",
            status="active",
            intent="order",
            subject={"display": "someone"},
            contained=[
                {
                    "resourceType": "Medication",
                    "id": local,
                    "code": {"coding": [{"system": rx, "code": code}]},
                    "form": {"text": form, "coding": [{"system": rx, "code": form}]},
                }
                for local, code, form in meds
            ],
            medicationReference={"reference": "#" + meds[0][0]},
        )
        r.save()
        made[r.id] = key
    medications = fhirpy_client.resources("Medication")

    def containers(**criteria):
        # fhirpy's search sets keep only resources of the searched type, so the containers
        # are read from the searchset Bundle fhirpy fetches.
        bundle = fhirpy_client.execute(
            "Medication", method="get", params={"_contained": "true", **criteria}
        )
        found = [e["resource"] for e in bundle.get("entry", [])]
        assert all(r["resourceType"] == "MedicationRequest" for r in found)
        return sorted(made[r["id"]] for r in found)

    assert containers(code=f"{rx}|1") == ["r1", "r3"]
    assert containers(code=f"{rx}|1", form=f"{rx}|tablet") == ["r1"]
    assert containers(code=f"{rx}|3", form=f"{rx}|tablet") == ["r3"]
    assert containers(code=f"{rx}|1,{rx}|2,{rx}|3") == ["r1", "r2", "r3"]
    assert medications.search(code=f"{rx}|1").fetch_all() == []
    # fhirpy's count() adds `_totalMethod`, which only a lenient server ignores.
    counted = lenient_client.resources("Medication")
    assert counted.search(_contained="true", code=f"{rx}|1").count() == 2
    assert (
        counted.search(_contained="true", _containedType="contained", code=f"{rx}|1,{rx}|3")
        .count()
        == 3
    )
    own = medications.search(
        _contained="true", _containedType="contained", code=f"{rx}|1,{rx}|3"
    ).limit(1)
    assert sorted(m.get("code")["coding"][0]["code"] for m in own.fetch_all()) == ["1", "1", "3"]
    with pytest.raises(OperationOutcome) as e:
        medications.search(_contained="true", _sort="code").fetch()
    assert "_sort" in str(e.value)
