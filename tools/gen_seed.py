#!/usr/bin/env python3
"""Generate fhird's sample seed data: FHIR R4 (4.0.1) transaction Bundles.

    python3 tools/gen_seed.py            # writes seed/default/*.json and seed/payer/PAY00x/*.json

Deterministic: a fixed random seed, fixed dates (2025-2026), no network, standard library only.
Rerunning produces byte-identical files.  Validate the result with tools/check_seed.py.

Layout (see seed/README.md):
  seed/default/NN-name.json          the clinic (default partition)
  seed/payer/PAY00x/NN-name.json     what each payer owns (its own partition)

Every Bundle is `type: transaction`; every entry has fullUrl `Type/id`, a resource with a stable,
human-readable id and `request: {method: PUT, url: Type/id}`.  Each payer partition carries copies
(identical JSON, same ids) of every default-partition resource its own records reference, so all
references resolve within their own partition.
"""
from __future__ import annotations

import json
import random
import sys
import unicodedata
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED_DIR = ROOT / "seed"

RNG = random.Random(20250401)

# ---------------------------------------------------------------------------------------------
# Systems and URLs
# ---------------------------------------------------------------------------------------------
FHIRD = "http://fhird.example.org/fhir/"
EXT = FHIRD + "StructureDefinition/"
FCS = FHIRD + "CodeSystem/"
SID = FHIRD + "sid/"
MRN_SYSTEM = "http://fhird.example.org/mrn"

EXT_COVERED = EXT + "insuranceplan-covered-code"
EXT_EXCLUDED = EXT + "insuranceplan-excluded-code"
EXT_PRIOR_AUTH = EXT + "insuranceplan-prior-auth-code"
EXT_FEE = EXT + "insuranceplan-fee-schedule"

ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NPI = "http://hl7.org/fhir/sid/us-npi"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
NUCC = "http://nucc.org/provider-taxonomy"
X12_SVC = "https://codesystem.x12.org/005010/1365"
TIN = "urn:oid:2.16.840.1.113883.4.4"
ISO4217 = "urn:iso:std:iso:4217"
POS = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
THO = "http://terminology.hl7.org/CodeSystem/"

FACILITY = "org-svmg"
LOC_MAIN = "loc-svmg-main"
LOC_EAST = "loc-svmg-east"
PAYERS = ["PAY001", "PAY002", "PAY003"]
AS_OF = date(2025, 7, 1)  # ages are computed at this date


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------
def coding(system, code, display=None):
    c = {"system": system, "code": code}
    if display:
        c["display"] = display
    return c


def cc(system, code, display=None, text=None):
    out = {"coding": [coding(system, code, display)]}
    if text:
        out["text"] = text
    return out


def ref(rtype, rid, display=None):
    r = {"reference": f"{rtype}/{rid}"}
    if display:
        r["display"] = display
    return r


def money(v):
    return {"value": round(float(v), 2), "currency": "USD"}


def qty_usd(v):
    return {"value": round(float(v), 2), "unit": "USD", "system": ISO4217, "code": "USD"}


def qty_pct(v):
    return {"value": v, "unit": "%", "system": UCUM, "code": "%"}


def ucum(v, unit, code=None):
    return {"value": v, "unit": unit, "system": UCUM, "code": code or unit}


def ascii_fold(s):
    return "".join(ch for ch in unicodedata.normalize("NFKD", s) if not unicodedata.combining(ch))


def npi_from(base9: str) -> str:
    """A 10-digit NPI with a valid check digit (Luhn over the '80840' prefix + 9 digits)."""
    payload = "80840" + base9
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return base9 + str((10 - total % 10) % 10)


def rand_npi(first="1"):
    return npi_from(first + "".join(str(RNG.randint(0, 9)) for _ in range(8)))


def nth_weekday(year, month, weekday, n):
    d = date(year, month, 1)
    while d.weekday() != weekday:
        d += timedelta(days=1)
    return d + timedelta(days=7 * (n - 1))


def tz(d: date) -> str:
    """US Eastern offset for a local date (DST from 2nd Sunday in March to 1st Sunday in November)."""
    start = nth_weekday(d.year, 3, 6, 2)
    end = nth_weekday(d.year, 11, 6, 1)
    return "-04:00" if start <= d < end else "-05:00"


def dt(d: date, hh: int, mm: int, ss: int = 0) -> str:
    return f"{d.isoformat()}T{hh:02d}:{mm:02d}:{ss:02d}{tz(d)}"


def add_minutes(d: date, hh: int, mm: int, minutes: int):
    t = hh * 60 + mm + minutes
    return d + timedelta(days=t // (24 * 60)), (t // 60) % 24, t % 60


def age_on(birth: str, on: date = AS_OF) -> int:
    b = date.fromisoformat(birth)
    return on.year - b.year - ((on.month, on.day) < (b.month, b.day))


HOLIDAYS = {date(2025, 5, 26), date(2025, 7, 4), date(2025, 9, 1), date(2025, 11, 11), date(2025, 11, 27),
            date(2026, 1, 1), date(2026, 1, 19), date(2026, 2, 16)}


def workdays(start: date, end: date):
    out, d = [], start
    while d <= end:
        if d.weekday() < 5 and d not in HOLIDAYS:
            out.append(d)
        d += timedelta(days=1)
    return out


# ---------------------------------------------------------------------------------------------
# Code tables
# ---------------------------------------------------------------------------------------------
ICD = {
    # chronic
    "I10": "Essential (primary) hypertension",
    "E11.9": "Type 2 diabetes mellitus without complications",
    "E78.5": "Hyperlipidemia, unspecified",
    "J45.909": "Unspecified asthma, uncomplicated",
    "E03.9": "Hypothyroidism, unspecified",
    "F41.1": "Generalized anxiety disorder",
    "F32.9": "Major depressive disorder, single episode, unspecified",
    "I25.10": "Atherosclerotic heart disease of native coronary artery without angina pectoris",
    "G47.33": "Obstructive sleep apnea (adult) (pediatric)",
    "M17.11": "Unilateral primary osteoarthritis, right knee",
    "M54.50": "Low back pain, unspecified",
    "M51.16": "Intervertebral disc disorders with radiculopathy, lumbar region",
    "G43.909": "Migraine, unspecified, not intractable, without status migrainosus",
    "E66.9": "Obesity, unspecified",
    "K21.9": "Gastro-esophageal reflux disease without esophagitis",
    # acute
    "J20.9": "Acute bronchitis, unspecified",
    "J02.0": "Streptococcal pharyngitis",
    "J06.9": "Acute upper respiratory infection, unspecified",
    "N39.0": "Urinary tract infection, site not specified",
    "H66.90": "Otitis media, unspecified, unspecified ear",
    "M25.561": "Pain in right knee",
    "R51.9": "Headache, unspecified",
    "L30.9": "Dermatitis, unspecified",
    "B07.9": "Viral wart, unspecified",
    "D48.5": "Neoplasm of uncertain behavior of skin",
    "L90.5": "Scar conditions and fibrosis of skin",
    # encounters for / factors
    "Z00.00": "Encounter for general adult medical examination without abnormal findings",
    "Z00.01": "Encounter for general adult medical examination with abnormal findings",
    "Z00.129": "Encounter for routine child health examination without abnormal findings",
    "Z23": "Encounter for immunization",
    "Z41.1": "Encounter for cosmetic surgery",
    "Z51.11": "Encounter for antineoplastic chemotherapy",
    "Z31.89": "Encounter for other procreative management",
    "Z12.11": "Encounter for screening for malignant neoplasm of colon",
}

# CPT: (short description, clinic charge USD, X12 service-type category used for cost sharing)
CPT_TABLE = {
    "99202": ("Office/outpatient visit, new patient, straightforward MDM", 135.00, "98"),
    "99203": ("Office/outpatient visit, new patient, low MDM", 205.00, "98"),
    "99204": ("Office/outpatient visit, new patient, moderate MDM", 310.00, "98"),
    "99212": ("Office/outpatient visit, established patient, straightforward MDM", 110.00, "98"),
    "99213": ("Office/outpatient visit, established patient, low MDM", 165.00, "98"),
    "99214": ("Office/outpatient visit, established patient, moderate MDM", 235.00, "98"),
    "99215": ("Office/outpatient visit, established patient, high MDM", 320.00, "98"),
    "99243": ("Office consultation, low MDM", 260.00, "3"),
    "99244": ("Office consultation, moderate MDM", 355.00, "3"),
    "99385": ("Initial preventive medicine visit, age 18-39", 260.00, "BZ"),
    "99386": ("Initial preventive medicine visit, age 40-64", 295.00, "BZ"),
    "99392": ("Periodic preventive medicine visit, established patient, age 1-4", 190.00, "BZ"),
    "99393": ("Periodic preventive medicine visit, established patient, age 5-11", 190.00, "BZ"),
    "99394": ("Periodic preventive medicine visit, established patient, age 12-17", 210.00, "BZ"),
    "99395": ("Periodic preventive medicine visit, established patient, age 18-39", 230.00, "BZ"),
    "99396": ("Periodic preventive medicine visit, established patient, age 40-64", 255.00, "BZ"),
    "99397": ("Periodic preventive medicine visit, established patient, age 65+", 275.00, "BZ"),
    "90686": ("Influenza vaccine, quadrivalent, preservative free, 0.5 mL, IM", 38.00, "BZ"),
    "90471": ("Immunization administration, one vaccine", 28.00, "BZ"),
    "36415": ("Collection of venous blood by venipuncture", 15.00, "5"),
    "85025": ("Complete blood count with automated differential", 42.00, "5"),
    "80048": ("Basic metabolic panel", 48.00, "5"),
    "80053": ("Comprehensive metabolic panel", 62.00, "5"),
    "80061": ("Lipid panel", 58.00, "5"),
    "83036": ("Hemoglobin A1c", 44.00, "5"),
    "84443": ("Thyroid stimulating hormone (TSH)", 52.00, "5"),
    "81003": ("Urinalysis, automated, without microscopy", 14.00, "5"),
    "87880": ("Rapid Streptococcus group A antigen detection", 32.00, "5"),
    "87086": ("Urine culture, quantitative colony count", 36.00, "5"),
    "93000": ("Electrocardiogram, routine, with interpretation and report", 78.00, "73"),
    "94010": ("Spirometry", 88.00, "73"),
    "93306": ("Transthoracic echocardiography, complete, with Doppler", 1150.00, "73"),
    "95810": ("Polysomnography, attended, 4 or more parameters", 2450.00, "73"),
    "71046": ("Radiologic examination, chest, 2 views", 118.00, "4"),
    "73562": ("Radiologic examination, knee, 3 views", 132.00, "4"),
    "72100": ("Radiologic examination, lumbosacral spine, 2 or 3 views", 128.00, "4"),
    "72148": ("MRI lumbar spine without contrast", 1580.00, "62"),
    "70553": ("MRI brain without contrast, followed by contrast", 2350.00, "62"),
    "73721": ("MRI lower extremity joint without contrast", 1490.00, "62"),
    "29881": ("Arthroscopy, knee, surgical, with meniscectomy", 4850.00, "2"),
    "20610": ("Arthrocentesis, aspiration and/or injection, major joint", 185.00, "2"),
    "11102": ("Tangential biopsy of skin, single lesion", 165.00, "2"),
    "17110": ("Destruction of benign lesions (e.g. warts), up to 14", 150.00, "2"),
    "15780": ("Dermabrasion, total face", 2100.00, "2"),
    "45378": ("Colonoscopy, flexible, diagnostic", 1850.00, "2"),
    "97161": ("Physical therapy evaluation, low complexity", 145.00, "PT"),
    "97110": ("Therapeutic exercise, each 15 minutes", 62.00, "PT"),
    "97140": ("Manual therapy techniques, each 15 minutes", 58.00, "PT"),
    "97810": ("Acupuncture without electrical stimulation, initial 15 minutes", 95.00, "1"),
    "90791": ("Psychiatric diagnostic evaluation", 285.00, "MH"),
    "90834": ("Psychotherapy, 45 minutes", 165.00, "MH"),
    "96127": ("Brief emotional/behavioral assessment", 22.00, "MH"),
}

X12 = {
    "1": "Medical Care",
    "2": "Surgical",
    "3": "Consultation",
    "4": "Diagnostic X-Ray",
    "5": "Diagnostic Lab",
    "30": "Health Benefit Plan Coverage",
    "62": "MRI/CAT Scan",
    "73": "Diagnostic Medical",
    "86": "Emergency Services",
    "98": "Professional (Physician) Visit - Office",
    "BZ": "Physician Visit - Office: Well",
    "MH": "Mental Health",
    "PT": "Physical Therapy",
    "UC": "Urgent Care",
}

# RxNorm clinical drugs: code -> (display, form code (v3-orderableDrugForm), form display)
RX = {
    "314076": ("lisinopril 10 MG Oral Tablet", "TAB", "Tablet"),
    "197361": ("amlodipine 5 MG Oral Tablet", "TAB", "Tablet"),
    "310798": ("hydrochlorothiazide 25 MG Oral Tablet", "TAB", "Tablet"),
    "861007": ("metformin hydrochloride 500 MG Oral Tablet", "TAB", "Tablet"),
    "617310": ("atorvastatin 20 MG Oral Tablet", "TAB", "Tablet"),
    "243670": ("aspirin 81 MG Oral Tablet", "TAB", "Tablet"),
    "966222": ("levothyroxine sodium 0.05 MG Oral Tablet", "TAB", "Tablet"),
    "312940": ("sertraline 50 MG Oral Tablet", "TAB", "Tablet"),
    "745679": ("200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler", "MDINHL", "Metered dose inhaler"),
    "895994": ("120 ACTUAT fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler", "MDINHL",
               "Metered dose inhaler"),
    "310965": ("ibuprofen 200 MG Oral Tablet", "TAB", "Tablet"),
    "313782": ("acetaminophen 325 MG Oral Tablet", "TAB", "Tablet"),
    "308460": ("azithromycin 250 MG Oral Tablet", "TAB", "Tablet"),
    "308182": ("amoxicillin 250 MG Oral Capsule", "CAP", "Capsule"),
    "1648755": ("nitrofurantoin, macrocrystals 25 MG / nitrofurantoin, monohydrate 75 MG Oral Capsule", "CAP",
                "Capsule"),
}

# Prescribing templates: rx code -> (sig, frequency, period, periodUnit, dose units, qty, days supply, refills, prn)
SIG = {
    "314076": ("Take 1 tablet by mouth once daily", 1, 1, "d", 1, 90, 90, 3, False),
    "197361": ("Take 1 tablet by mouth once daily", 1, 1, "d", 1, 90, 90, 3, False),
    "310798": ("Take 1 tablet by mouth once daily in the morning", 1, 1, "d", 1, 90, 90, 3, False),
    "861007": ("Take 1 tablet by mouth twice daily with meals", 2, 1, "d", 1, 180, 90, 3, False),
    "617310": ("Take 1 tablet by mouth once daily at bedtime", 1, 1, "d", 1, 90, 90, 3, False),
    "243670": ("Take 1 tablet by mouth once daily", 1, 1, "d", 1, 90, 90, 3, False),
    "966222": ("Take 1 tablet by mouth once daily on an empty stomach, 30 minutes before breakfast",
               1, 1, "d", 1, 90, 90, 3, False),
    "312940": ("Take 1 tablet by mouth once daily", 1, 1, "d", 1, 30, 30, 5, False),
    "745679": ("Inhale 2 puffs by mouth every 4 to 6 hours as needed for wheezing or shortness of breath",
               1, 4, "h", 2, 1, 30, 2, True),
    "895994": ("Inhale 2 puffs by mouth twice daily; rinse mouth after use", 2, 1, "d", 2, 1, 30, 5, False),
    "310965": ("Take 2 tablets (400 mg) by mouth every 6 hours as needed for pain, with food",
               1, 6, "h", 2, 60, 15, 0, True),
    "313782": ("Take 2 tablets (650 mg) by mouth every 6 hours as needed for headache; max 3 g per day",
               1, 6, "h", 2, 60, 15, 0, True),
    "308460": ("Take 2 tablets by mouth on day 1, then 1 tablet once daily on days 2 through 5",
               1, 1, "d", 1, 6, 5, 0, False),
    "308182": ("Take 1 capsule by mouth three times daily for 10 days", 3, 1, "d", 1, 30, 10, 0, False),
    "1648755": ("Take 1 capsule by mouth twice daily with food for 5 days", 2, 1, "d", 1, 10, 5, 0, False),
}

CHRONIC_MEDS = {
    "I10": ["314076"],
    "E11.9": ["861007"],
    "E78.5": ["617310"],
    "J45.909": ["745679", "895994"],
    "E03.9": ["966222"],
    "F41.1": ["312940"],
    "F32.9": ["312940"],
    "I25.10": ["243670"],
    "M17.11": ["310965"],
    "M54.50": ["310965"],
    "M51.16": ["310965"],
    "G43.909": ["313782"],
}

# Observations --------------------------------------------------------------------------------
# lab analyte: loinc -> (display, unit, ucum code, ref low, ref high, decimals)
LAB = {
    "4548-4": ("Hemoglobin A1c/Hemoglobin.total in Blood", "%", "%", 4.0, 5.6, 1),
    "2345-7": ("Glucose [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", 70, 99, 0),
    "2160-0": ("Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", 0.6, 1.3, 2),
    "3094-0": ("Urea nitrogen [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", 7, 20, 0),
    "2951-2": ("Sodium [Moles/volume] in Serum or Plasma", "mmol/L", "mmol/L", 135, 145, 0),
    "2823-3": ("Potassium [Moles/volume] in Serum or Plasma", "mmol/L", "mmol/L", 3.5, 5.1, 1),
    "2093-3": ("Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", None, 200, 0),
    "2085-9": ("Cholesterol in HDL [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", 40, None, 0),
    "18262-6": ("Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay", "mg/dL", "mg/dL",
                None, 100, 0),
    "2571-8": ("Triglyceride [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", None, 150, 0),
    "3016-3": ("Thyrotropin [Units/volume] in Serum or Plasma", "mIU/L", "m[IU]/L", 0.4, 4.0, 2),
    "718-7": ("Hemoglobin [Mass/volume] in Blood", "g/dL", "g/dL", 12.0, 17.5, 1),
    "6690-2": ("Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", "10*3/uL", 4.5, 11.0, 1),
    "777-3": ("Platelets [#/volume] in Blood by Automated count", "10*3/uL", "10*3/uL", 150, 400, 0),
}

# panel key -> (CPT, report LOINC, report display, analytes)
PANELS = {
    "a1c": ("83036", "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", ["4548-4"]),
    "bmp": ("80048", "51990-0", "Basic metabolic panel - Blood",
            ["2345-7", "3094-0", "2160-0", "2951-2", "2823-3"]),
    "lipid": ("80061", "57698-3", "Lipid panel with direct LDL - Serum or Plasma",
              ["2093-3", "2085-9", "18262-6", "2571-8"]),
    "tsh": ("84443", "3016-3", "Thyrotropin [Units/volume] in Serum or Plasma", ["3016-3"]),
    "cbc": ("85025", "58410-2", "CBC panel - Blood by Automated count", ["718-7", "6690-2", "777-3"]),
}

CONDITION_PANELS = {"E11.9": ["a1c", "bmp"], "I10": ["bmp"], "E78.5": ["lipid"], "E03.9": ["tsh"],
                    "I25.10": ["lipid"]}

# ---------------------------------------------------------------------------------------------
# Organizations, locations, practitioners
# ---------------------------------------------------------------------------------------------
PAYER_INFO = {
    "PAY001": {
        "name": "BlueCross BlueShield", "alias": "BCBS", "web": "https://www.bcbs.com",
        "line": "225 North Michigan Avenue", "city": "Chicago", "state": "IL", "zip": "60601",
        "phone": "800-555-0101", "fax": "800-555-0102", "claims_email": "provider-claims@bcbs.example.org",
        "claims_po": "P.O. Box 805107", "claims_city": "Chicago", "claims_state": "IL", "claims_zip": "60680",
        "plan_id": "plan-PAY001-gold", "plan_name": "BlueCross Gold PPO", "plan_alias": "BCBS Gold",
        "plan_type": ("PPO", "preferred provider organization policy"), "network": "BlueCard PPO",
        "member_prefix": "XOF", "member_system": SID + "member-id/PAY001",
        "groups": [("GRP-104522", "Buckeye Logistics LLC"), ("GRP-118730", "Scioto Valley School District"),
                   ("IND-2025-OH", "Individual & Family (Marketplace)")],
        "premium": (612.00, 1236.00, 1794.00),
        "cost": {"ded": (1500, 3000), "ded_oon": (3000, 6000), "oop": (6000, 12000), "oop_oon": (12000, 24000),
                 "coins": 20, "coins_oon": 40, "pcp": 25, "spec": 50, "er": 250, "uc": 75, "mh": 25, "pt": 40,
                 "lab_waived": True},
        "fee_factor": 0.62,
        "excluded_dx": ["F32.9", "Z51.11"],
        "excluded_px": ["15780", "97810"],
        "prior_auth": ["72148", "70553", "73721", "29881", "95810"],
    },
    "PAY002": {
        "name": "United Healthcare", "alias": "UHC", "web": "https://www.uhc.com",
        "line": "9900 Bren Road East", "city": "Minnetonka", "state": "MN", "zip": "55343",
        "phone": "877-555-0142", "fax": "877-555-0143", "claims_email": "claims-intake@uhc.example.org",
        "claims_po": "P.O. Box 30555", "claims_city": "Salt Lake City", "claims_state": "UT", "claims_zip": "84130",
        "plan_id": "plan-PAY002-silver", "plan_name": "UnitedHealthcare Choice Plus Silver",
        "plan_alias": "UHC Choice Plus Silver",
        "plan_type": ("POS", "point of service policy"), "network": "Choice Plus",
        "member_prefix": "", "member_system": SID + "member-id/PAY002",
        "groups": [("0715024", "Olentangy Manufacturing Co."), ("0715388", "Franklin County Credit Union"),
                   ("0716110", "Arena District Tech Partners")],
        "premium": (488.00, 985.00, 1420.00),
        "cost": {"ded": (3000, 6000), "ded_oon": (6000, 12000), "oop": (8000, 16000), "oop_oon": (16000, 32000),
                 "coins": 30, "coins_oon": 50, "pcp": 35, "spec": 70, "er": 400, "uc": 100, "mh": 35, "pt": 50,
                 "lab_waived": False},
        "fee_factor": 0.58,
        "excluded_dx": ["Z41.1", "Z31.89"],
        "excluded_px": ["15780", "97810"],
        "prior_auth": ["72148", "70553", "73721", "29881", "95810", "93306"],
    },
    "PAY003": {
        "name": "Anthem", "alias": "Anthem Blue Cross and Blue Shield", "web": "https://www.anthem.com",
        "line": "220 Virginia Avenue", "city": "Indianapolis", "state": "IN", "zip": "46204",
        "phone": "866-555-0177", "fax": "866-555-0178", "claims_email": "provider-claims@anthem.example.org",
        "claims_po": "P.O. Box 105187", "claims_city": "Atlanta", "claims_state": "GA", "claims_zip": "30348",
        "plan_id": "plan-PAY003-platinum", "plan_name": "Anthem Pathway Platinum HMO",
        "plan_alias": "Anthem Platinum HMO",
        "plan_type": ("HMO", "health maintenance organization policy"), "network": "Pathway HMO",
        "member_prefix": "YRH", "member_system": SID + "member-id/PAY003",
        "groups": [("OH-44821", "German Village Hospitality Group"), ("OH-45102", "City of Westerville Employees"),
                   ("OH-46077", "Short North Arts Collective")],
        "premium": (745.00, 1502.00, 2188.00),
        "cost": {"ded": (500, 1000), "ded_oon": None, "oop": (3000, 6000), "oop_oon": None,
                 "coins": 10, "coins_oon": None, "pcp": 15, "spec": 30, "er": 150, "uc": 50, "mh": 15, "pt": 25,
                 "lab_waived": True},
        "fee_factor": 0.66,
        "excluded_dx": ["Z41.1", "Z31.89"],
        "excluded_px": ["15780", "97810"],
        "prior_auth": ["72148", "70553", "73721", "29881", "95810"],
    },
}

# id, given names, family, prefix, degree (v2-0360 code or None), degree display, gender, birthDate,
# NUCC taxonomy, taxonomy display, practitioner-role code, languages, locations, primary care?, board
PRACTITIONERS = [
    ("prac-0001", ["Emily", "Rose"], "Carter", "Dr.", "MD", "Doctor of Medicine", "female", "1978-04-12",
     "207Q00000X", "Family Medicine", "doctor", ["en"], [LOC_MAIN], True, "American Board of Family Medicine"),
    ("prac-0002", ["James", "Edward"], "Whitfield", "Dr.", "MD", "Doctor of Medicine", "male", "1969-09-03",
     "207R00000X", "Internal Medicine", "doctor", ["en"], [LOC_MAIN], True, "American Board of Internal Medicine"),
    ("prac-0003", ["Priya"], "Raman", "Dr.", "MD", "Doctor of Medicine", "female", "1983-01-27",
     "208000000X", "Pediatrics", "doctor", ["en", "ta"], [LOC_MAIN], True, "American Board of Pediatrics"),
    ("prac-0004", ["Marcus", "Allen"], "Bell", "Dr.", "DO", "Doctor of Osteopathy", "male", "1981-06-18",
     "207Q00000X", "Family Medicine", "doctor", ["en"], [LOC_MAIN], True,
     "American Osteopathic Board of Family Physicians"),
    ("prac-0005", ["Sarah", "Linh"], "Nguyen", None, "NP", "Nurse Practitioner", "female", "1987-11-02",
     "363LF0000X", "Nurse Practitioner, Family", "nurse", ["en", "vi"], [LOC_MAIN], True,
     "American Academy of Nurse Practitioners Certification Board"),
    ("prac-0006", ["Roberto"], "Álvarez", "Dr.", "MD", "Doctor of Medicine", "male", "1966-02-14",
     "207RC0000X", "Cardiovascular Disease", "doctor", ["en", "es"], [LOC_MAIN, LOC_EAST], False,
     "American Board of Internal Medicine - Cardiovascular Disease"),
    ("prac-0007", ["Hannah", "Ji-woo"], "Kim", "Dr.", "MD", "Doctor of Medicine", "female", "1980-08-30",
     "207RE0101X", "Endocrinology, Diabetes & Metabolism", "doctor", ["en", "ko"], [LOC_MAIN], False,
     "American Board of Internal Medicine - Endocrinology"),
    ("prac-0008", ["Michael", "Patrick"], "O'Connor", "Dr.", "MD", "Doctor of Medicine", "male", "1972-12-09",
     "207X00000X", "Orthopaedic Surgery", "doctor", ["en"], [LOC_MAIN, LOC_EAST], False,
     "American Board of Orthopaedic Surgery"),
    ("prac-0009", ["Lisa", "Mei"], "Chen", "Dr.", "MD", "Doctor of Medicine", "female", "1984-05-21",
     "207N00000X", "Dermatology", "doctor", ["en", "zh"], [LOC_MAIN], False, "American Board of Dermatology"),
    ("prac-0010", ["David", "Chukwuemeka"], "Okafor", "Dr.", "MD", "Doctor of Medicine", "male", "1976-03-11",
     "2084P0800X", "Psychiatry", "doctor", ["en"], [LOC_MAIN], False, "American Board of Psychiatry and Neurology"),
    ("prac-0011", ["Rachel", "Anne"], "Goldberg", "Dr.", "MD", "Doctor of Medicine", "female", "1974-10-05",
     "207RP1001X", "Pulmonary Disease", "doctor", ["en"], [LOC_MAIN, LOC_EAST], False,
     "American Board of Internal Medicine - Pulmonary Disease"),
    ("prac-0012", ["Kevin", "James"], "Brooks", None, "PA", "Physician Assistant", "male", "1990-07-23",
     "363A00000X", "Physician Assistant", None, ["en"], [LOC_MAIN], True,
     "National Commission on Certification of Physician Assistants"),
    ("prac-0013", ["Amanda", "Lucía"], "Torres", None, None, "Doctor of Physical Therapy", "female", "1989-02-08",
     "225100000X", "Physical Therapist", None, ["en", "es"], [LOC_EAST], False,
     "American Board of Physical Therapy Specialties - Orthopaedics"),
    ("prac-0014", ["Thomas", "Henry"], "Wright", "Dr.", "MD", "Doctor of Medicine", "male", "1970-04-29",
     "2084N0400X", "Neurology", "doctor", ["en"], [LOC_MAIN], False, "American Board of Psychiatry and Neurology"),
]
PRAC = {p[0]: p for p in PRACTITIONERS}
PCP_ADULT = ["prac-0001", "prac-0002", "prac-0004", "prac-0005", "prac-0012"]
SCHEDULED = ["prac-0001", "prac-0002", "prac-0003", "prac-0005"]
SPECIALIST_FOR = {"I25.10": "prac-0006", "E11.9": "prac-0007", "M17.11": "prac-0008", "F41.1": "prac-0010",
                  "F32.9": "prac-0010", "G47.33": "prac-0011", "J45.909": "prac-0011", "M54.50": "prac-0013",
                  "M51.16": "prac-0008", "G43.909": "prac-0014", "E03.9": "prac-0007"}

LANG_DISPLAY = {"en": "English", "es": "Spanish", "vi": "Vietnamese", "ko": "Korean", "zh": "Chinese",
                "ta": "Tamil", "pl": "Polish", "hi": "Hindi"}

_phone_counter = [0]


def next_phone():
    i = _phone_counter[0]
    _phone_counter[0] += 1
    area = ["380", "740", "937", "513"][i // 100]  # 614-555-01xx belongs to the clinic
    return f"{area}-555-01{i % 100:02d}"


def human_name(given, family, prefix=None, suffix=None, use="official"):
    n = {"use": use, "family": family, "given": list(given)}
    if prefix:
        n["prefix"] = [prefix]
    if suffix:
        n["suffix"] = [suffix]
    return n


def address(line, city, state, zip_, use="home", line2=None):
    lines = [line] + ([line2] if line2 else [])
    return {"use": use, "type": "both", "line": lines, "city": city, "state": state, "postalCode": zip_,
            "country": "US"}


def build_payer_org(pid):
    p = PAYER_INFO[pid]
    return {
        "resourceType": "Organization",
        "id": pid,
        "identifier": [
            {"use": "official", "system": SID + "payer-id", "value": pid},
        ],
        "active": True,
        "type": [cc(THO + "organization-type", "pay", "Payer")],
        "name": p["name"],
        "alias": [p["alias"]],
        "telecom": [
            {"system": "phone", "value": p["phone"], "use": "work"},
            {"system": "fax", "value": p["fax"], "use": "work"},
            {"system": "url", "value": p["web"], "use": "work"},
        ],
        "address": [address(p["line"], p["city"], p["state"], p["zip"], use="work")],
        "contact": [{
            "purpose": cc(THO + "contactentity-type", "PAYOR", "Payor"),
            "name": {"text": f"{p['alias']} Provider Claims Department"},
            "telecom": [{"system": "phone", "value": p["phone"], "use": "work"},
                        {"system": "email", "value": p["claims_email"], "use": "work"}],
            "address": address(p["claims_po"], p["claims_city"], p["claims_state"], p["claims_zip"], use="work"),
        }],
    }


FACILITY_NPI = npi_from("165834201")


def build_facility():
    return {
        "resourceType": "Organization",
        "id": FACILITY,
        "identifier": [
            {"use": "official", "system": NPI, "value": FACILITY_NPI},
            {"use": "secondary", "type": cc(THO + "v2-0203", "TAX", "Tax ID number"), "system": TIN,
             "value": "311847265"},
        ],
        "active": True,
        "type": [cc(THO + "organization-type", "prov", "Healthcare Provider")],
        "name": "Scioto Valley Medical Group",
        "alias": ["SVMG"],
        "telecom": [
            {"system": "phone", "value": "614-555-0100", "use": "work"},
            {"system": "fax", "value": "614-555-0199", "use": "work"},
            {"system": "email", "value": "frontdesk@svmg.example.org", "use": "work"},
            {"system": "url", "value": "https://svmg.example.org", "use": "work"},
        ],
        "address": [address("2400 Scioto Commons Drive", "Columbus", "OH", "43215", use="work")],
        "contact": [{
            "purpose": cc(THO + "contactentity-type", "BILL", "Billing"),
            "name": {"text": "SVMG Patient Financial Services"},
            "telecom": [{"system": "phone", "value": "614-555-0110", "use": "work"},
                        {"system": "email", "value": "billing@svmg.example.org", "use": "work"}],
        }],
    }


def build_locations():
    weekdays = ["mon", "tue", "wed", "thu", "fri"]
    return [
        {
            "resourceType": "Location",
            "id": LOC_MAIN,
            "identifier": [{"system": SID + "location", "value": "SVMG-MAIN"}],
            "status": "active",
            "name": "Scioto Valley Medical Group - Main Clinic",
            "alias": ["SVMG Main"],
            "description": "Primary care and specialty clinic, 2nd and 3rd floors",
            "mode": "instance",
            "type": [cc("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "OF", "Outpatient facility")],
            "telecom": [{"system": "phone", "value": "614-555-0100", "use": "work"}],
            "address": address("2400 Scioto Commons Drive", "Columbus", "OH", "43215", use="work",
                               line2="Suite 200"),
            "physicalType": cc(THO + "location-physical-type", "bu", "Building"),
            "position": {"longitude": -83.0112, "latitude": 39.9566},
            "managingOrganization": ref("Organization", FACILITY),
            "hoursOfOperation": [{"daysOfWeek": weekdays, "openingTime": "08:00:00", "closingTime": "17:00:00"}],
        },
        {
            "resourceType": "Location",
            "id": LOC_EAST,
            "identifier": [{"system": SID + "location", "value": "SVMG-EAST"}],
            "status": "active",
            "name": "Scioto Valley Medical Group - East Lab, Imaging & Rehab",
            "alias": ["SVMG East"],
            "description": "Laboratory draw station, X-ray and MRI, physical therapy, sleep lab",
            "mode": "instance",
            "type": [cc("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "OF", "Outpatient facility")],
            "telecom": [{"system": "phone", "value": "614-555-0120", "use": "work"}],
            "address": address("5150 East Main Street", "Columbus", "OH", "43213", use="work"),
            "physicalType": cc(THO + "location-physical-type", "bu", "Building"),
            "position": {"longitude": -82.8801, "latitude": 39.9589},
            "managingOrganization": ref("Organization", FACILITY),
            "hoursOfOperation": [
                {"daysOfWeek": weekdays, "openingTime": "07:00:00", "closingTime": "19:00:00"},
                {"daysOfWeek": ["sat"], "openingTime": "08:00:00", "closingTime": "12:00:00"},
            ],
        },
    ]


PRAC_NPI = {}


def build_practitioners():
    out, roles = [], []
    for n, (pid, given, family, prefix, degree, degree_display, gender, birth, tax, tax_disp, role, langs, locs,
            pcp, board) in enumerate(PRACTITIONERS, 1):
        npi = rand_npi()
        PRAC_NPI[pid] = npi
        email = f"{ascii_fold(given[0]).lower()}.{ascii_fold(family).lower().replace(chr(39), '')}@svmg.example.org"
        phone = f"614-555-01{10 + n:02d}"
        suffix = degree if degree else "DPT"
        grad_year = int(birth[:4]) + 26
        quals = []
        if degree:
            quals.append({"code": cc(THO + "v2-0360", degree, degree_display),
                          "period": {"start": f"{grad_year}-05-15"},
                          "issuer": {"display": "Accredited school of medicine or nursing"}})
        else:
            quals.append({"code": {"text": degree_display},
                          "period": {"start": f"{grad_year}-05-15"},
                          "issuer": {"display": "The Ohio State University"}})
        quals.append({
            "identifier": [{"system": SID + "state-license/OH", "value": f"{35 if degree in ('MD', 'DO') else 9}."
                                                                          f"{RNG.randint(10000, 99999):06d}"}],
            "code": {"text": "Ohio state license to practice"},
            "period": {"start": f"{grad_year + 3}-07-01", "end": "2027-06-30"},
            "issuer": {"display": "State Medical Board of Ohio" if degree in ("MD", "DO", "PA")
                       else ("Ohio Board of Nursing" if degree == "NP"
                             else "Ohio Occupational Therapy, Physical Therapy, and Athletic Trainers Board")},
        })
        quals.append({"code": {"text": f"Board certified: {tax_disp}"},
                      "period": {"start": f"{grad_year + 4}-09-01", "end": "2029-12-31"},
                      "issuer": {"display": board}})
        prac = {
            "resourceType": "Practitioner",
            "id": pid,
            "identifier": [{"use": "official", "system": NPI, "value": npi}],
            "active": True,
            "name": [human_name(given, family, prefix, suffix)],
            "telecom": [{"system": "phone", "value": phone, "use": "work"},
                        {"system": "email", "value": email, "use": "work"}],
            "address": [address("2400 Scioto Commons Drive", "Columbus", "OH", "43215", use="work",
                                line2="Suite 200")],
            "gender": gender,
            "birthDate": birth,
            "qualification": quals,
            "communication": [cc("urn:ietf:bcp:47", lang, LANG_DISPLAY[lang]) for lang in langs],
        }
        out.append(prac)
        role_res = {
            "resourceType": "PractitionerRole",
            "id": pid.replace("prac-", "role-"),
            "active": True,
            "period": {"start": f"{max(grad_year + 5, 2012)}-08-01"},
            "practitioner": ref("Practitioner", pid, f"{prefix + ' ' if prefix else ''}{given[0]} {family}, {suffix}"),
            "organization": ref("Organization", FACILITY, "Scioto Valley Medical Group"),
            "code": ([cc(THO + "practitioner-role", role, "Doctor" if role == "doctor" else "Nurse")]
                     if role else [{"text": degree_display}]),
            "specialty": [cc(NUCC, tax, tax_disp)],
            "location": [ref("Location", loc) for loc in locs],
            "telecom": [{"system": "phone", "value": phone, "use": "work"},
                        {"system": "email", "value": email, "use": "work"}],
            "availableTime": ([{"daysOfWeek": ["mon", "tue", "wed", "thu", "fri"], "availableStartTime": "08:30:00",
                                "availableEndTime": "16:30:00"}] if pcp else
                              [{"daysOfWeek": ["tue", "thu"], "availableStartTime": "08:00:00",
                                "availableEndTime": "17:00:00"},
                               {"daysOfWeek": ["wed"], "availableStartTime": "12:00:00",
                                "availableEndTime": "17:00:00"}]),
            "availabilityExceptions": "Closed on federal holidays",
        }
        roles.append(role_res)
    return out, roles


# ---------------------------------------------------------------------------------------------
# People
# ---------------------------------------------------------------------------------------------
FEMALE = ["Olivia", "Emma", "Ava", "Sophia", "Isabella", "Mia", "Charlotte", "Amelia", "Harper", "Evelyn",
          "Abigail", "Elizabeth", "Madison", "Avery", "Ella", "Scarlett", "Grace", "Chloe", "Victoria", "Riley",
          "Aria", "Aubrey", "Zoë", "Penelope", "Layla", "Nora", "Camila", "Linda", "Patricia", "Barbara", "Susan",
          "Jessica", "Karen", "Nancy", "Margaret", "Dorothy", "Sandra", "Ashley", "Kimberly", "Donna", "Carol",
          "Michelle", "Renée", "Guadalupe", "Aaliyah", "Mei", "Fatima", "Ngozi", "Deborah", "Brenda"]
MALE = ["Liam", "Noah", "William", "James", "Oliver", "Benjamin", "Elijah", "Lucas", "Mason", "Logan",
        "Alexander", "Ethan", "Jacob", "Michael", "Daniel", "Henry", "Jackson", "Sebastian", "Aiden", "Matthew",
        "Samuel", "Joseph", "Owen", "Wyatt", "John", "Jack", "Luke", "Robert", "Richard", "Charles",
        "Christopher", "Mark", "Donald", "Steven", "Paul", "Andrew", "Kenneth", "Luis", "Carlos", "DeShawn",
        "Malik", "Wei", "Ahmed", "Dmitri", "Gary", "Larry", "Frank", "Raymond", "Gregory", "Terrence"]
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
        "Lopez", "Gonzalez", "Wilson", "Anderson", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Pérez",
        "White", "Harris", "Sanchez", "Clark", "Lewis", "Robinson", "Walker", "Allen", "King", "Scott",
        "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell",
        "Roberts", "Dubois", "Novak", "Yamamoto", "Fitzgerald", "Smith-Jones", "Abernathy", "Delgado", "Ivanova",
        "McAllister", "Osei", "Lindqvist", "Bianchi", "Haddad", "Kaur"]
STREETS = ["Maple Ave", "Oak St", "N High St", "E Broad St", "Summit St", "Indianola Ave", "Karl Rd",
           "Cleveland Ave", "Parsons Ave", "Livingston Ave", "Morse Rd", "Henderson Rd", "Bethel Rd", "Sawmill Rd",
           "Hamilton Rd", "Schrock Rd", "W Lane Ave", "King Ave", "Neil Ave", "Riverside Dr", "Olentangy Blvd",
           "Chatterton Rd", "Fishinger Rd", "Cooke Rd", "Weber Rd"]
CITIES = [("Columbus", "43201"), ("Columbus", "43202"), ("Columbus", "43206"), ("Columbus", "43209"),
          ("Columbus", "43214"), ("Columbus", "43215"), ("Columbus", "43220"), ("Columbus", "43224"),
          ("Columbus", "43229"), ("Westerville", "43081"), ("Dublin", "43017"), ("Hilliard", "43026"),
          ("Grove City", "43123"), ("Reynoldsburg", "43068"), ("Gahanna", "43230"), ("Upper Arlington", "43221"),
          ("Worthington", "43085"), ("Delaware", "43015")]


def random_address():
    city, zip_ = RNG.choice(CITIES)
    line2 = f"Apt {RNG.randint(1, 4)}{RNG.choice('ABCD')}" if RNG.random() < 0.2 else None
    return (f"{RNG.randint(100, 9899)} {RNG.choice(STREETS)}", line2, city, "OH", zip_)


class Person:
    def __init__(self, given, family, gender, birth, payer=None, lang="en"):
        self.given, self.family, self.gender, self.birth = given, family, gender, birth
        self.payer, self.lang = payer, lang
        self.id = None
        self.addr = None
        self.conditions = []   # chronic ICD codes
        self.pcp = None
        self.family_key = None
        self.relationship = "self"  # relationship to subscriber
        self.subscriber = None   # ("Patient"|"RelatedPerson", id)
        self.dependent_no = 1
        self.group = None
        self.subscriber_id = None
        self.cov_start = None
        self.scenarios = []
        self.height = None
        self.weight = None
        self.marital = None

    @property
    def age(self):
        return age_on(self.birth)


def bdate(year, lo=1, hi=12):
    m = RNG.randint(lo, hi)
    d = RNG.randint(1, 28)
    return f"{year}-{m:02d}-{d:02d}"


def build_people():
    """Returns (patients, related_person_specs)."""
    used_names = set()
    patients: list[Person] = []

    families = [
        ("PAY001", "Hernández", "es", [("José", "male", 1982, "self"), ("María", "female", 1984, "spouse"),
                                       ("Sofía", "female", 2014, "child"), ("Mateo", "male", 2017, "child")]),
        ("PAY002", "Nguyen", "vi", [("Lan", "female", 1979, "self"), ("David", "male", 1977, "spouse"),
                                    ("Emily", "female", 2010, "child")]),
        ("PAY003", "Washington", "en", [("Tyrone", "male", 1975, "self"), ("Keisha", "female", 1978, "spouse"),
                                        ("Jaylen", "male", 2008, "child")]),
        ("PAY001", "Kowalski", "pl", [("Anna", "female", 1988, "self"), ("Piotr", "male", 1987, "spouse")]),
        ("PAY002", "Patel", "hi", [("Raj", "male", 1970, "self"), ("Anjali", "female", 1972, "spouse"),
                                   ("Arjun", "male", 2006, "child")]),
        ("PAY003", "O'Brien", "en", [("Kathleen", "female", 1968, "self"), ("Sean", "male", 2003, "child")]),
    ]
    for fi, (payer, family, lang, members) in enumerate(families):
        addr = random_address()
        group = PAYER_INFO[payer]["groups"][fi % 2]
        subscriber = None
        for k, (given, gender, year, rel) in enumerate(members):
            p = Person(given, family, gender, bdate(year), payer, lang if year < 2000 else "en")
            p.addr = addr
            p.family_key = family
            p.relationship = rel
            p.dependent_no = k + 1
            p.group = group
            p.marital = "M" if rel in ("self", "spouse") and len(members) > 1 and members[1][3] == "spouse" else (
                "D" if rel == "self" else "S")
            if rel == "self":
                subscriber = p
            p.subscriber_obj = subscriber
            patients.append(p)
            used_names.add((given, family))

    # Children whose subscriber (and guarantor) is a parent who is not a clinic patient.
    rp_children = [
        ("PAY001", "Lily", "female", 2016, "Thompson", ("Jennifer", "female", 1987, "MTH", "mother")),
        ("PAY002", "Noah", "male", 2019, "Ramirez", ("Carlos", "male", 1990, "FTH", "father")),
        ("PAY003", "Ava", "female", 2012, "Schmidt", ("Heidi", "female", 1981, "MTH", "mother")),
        ("PAY002", "Ethan", "male", 2009, "Young", ("Brandon", "male", 1978, "FTH", "father")),
    ]
    for i, (payer, given, gender, year, family, parent) in enumerate(rp_children):
        p = Person(given, family, gender, bdate(year), payer)
        p.addr = random_address()
        p.relationship = "child"
        p.dependent_no = 2
        p.group = PAYER_INFO[payer]["groups"][(i + 1) % 2]
        p.marital = "S"
        p.parent_rp = parent
        patients.append(p)
        used_names.add((given, family))

    # Independent adults, balanced to 20 members per payer.
    quota = {"PAY001": 13, "PAY002": 12, "PAY003": 14}
    order = []
    for payer in PAYERS:
        order += [payer] * quota[payer]
    RNG.shuffle(order)
    for payer in order:
        gender = "female" if RNG.random() < 0.52 else "male"
        while True:
            given = RNG.choice(FEMALE if gender == "female" else MALE)
            family = RNG.choice(LAST)
            if (given, family) not in used_names:
                break
        used_names.add((given, family))
        year = RNG.choice([RNG.randint(1944, 1965), RNG.randint(1958, 1985), RNG.randint(1970, 2005)])
        p = Person(given, family, gender, bdate(year), payer,
                   "es" if family in ("Garcia", "Rodriguez", "Martinez", "Lopez", "Gonzalez", "Pérez", "Sanchez",
                                      "Flores", "Rivera", "Delgado") and RNG.random() < 0.4 else "en")
        p.addr = random_address()
        p.group = RNG.choice(PAYER_INFO[payer]["groups"])
        p.marital = RNG.choice(["M", "M", "S", "S", "D", "W"] if p.age > 60 else ["M", "S", "S", "D"])
        patients.append(p)

    for n, p in enumerate(patients, 1):
        p.id = f"pat-{n:04d}"

    # Subscriber ids, coverage start, PCP, anthropometrics
    for p in patients:
        info = PAYER_INFO[p.payer]
        if getattr(p, "subscriber_obj", None) is not None and p.subscriber_obj is not p:
            p.subscriber = ("Patient", p.subscriber_obj.id)
            p.subscriber_id = p.subscriber_obj.subscriber_id
            p.cov_start = p.subscriber_obj.cov_start
        else:
            p.subscriber_id = info["member_prefix"] + f"{RNG.randint(100000000, 999999999)}"
            p.cov_start = RNG.choice(["2024-01-01", "2025-01-01", "2025-01-01", "2023-07-01"])
        if p.age < 18:
            p.pcp = "prac-0003" if RNG.random() < 0.75 else "prac-0001"
        else:
            p.pcp = RNG.choice(PCP_ADULT)
        if p.age < 18:
            p.height = round(min(180.0, 75 + 6.2 * p.age + RNG.uniform(-5, 5)), 1)
            bmi = RNG.uniform(15.5, 21.5)
        else:
            p.height = round((176 if p.gender == "male" else 162.5) + RNG.uniform(-9, 9), 1)
            bmi = RNG.uniform(20.5, 34.5)
        p.weight = round(bmi * (p.height / 100) ** 2, 1)

    # Chronic conditions (deterministic random by age)
    for p in patients:
        a = p.age
        cond = []
        if a >= 18:
            if a >= 40 and RNG.random() < 0.42:
                cond.append("I10")
            if a >= 40 and RNG.random() < 0.35:
                cond.append("E78.5")
            if a >= 40 and RNG.random() < 0.22:
                cond.append("E11.9")
            if p.gender == "female" and RNG.random() < 0.12:
                cond.append("E03.9")
            if RNG.random() < 0.08:
                cond.append("F41.1")
            if a >= 60 and RNG.random() < 0.25:
                cond.append("I25.10")
            if RNG.random() < 0.08:
                cond.append("K21.9")
            bmi = p.weight / (p.height / 100) ** 2
            if bmi >= 30:
                cond.append("E66.9")
        if RNG.random() < 0.1:
            cond.append("J45.909")
        p.conditions = cond

    # Scenarios: exercise the payer rules (exclusions, prior authorization).
    used = set()

    def pick(payer, lo, hi, gender=None):
        for p in patients:
            if (p.payer == payer and lo <= p.age <= hi and p.id not in used and p.relationship == "self"
                    and (gender is None or p.gender == gender) and p.family_key is None
                    and not hasattr(p, "parent_rp")):
                used.add(p.id)
                return p
        raise SystemExit(f"no patient for scenario {payer} {lo}-{hi}")

    def add(p, scenario, conds):
        p.scenarios.append(scenario)
        for c in conds:
            if c not in p.conditions:
                p.conditions.append(c)

    add(pick("PAY001", 22, 60), "psych-excluded", ["F32.9"])            # BCBS excludes F32.9
    add(pick("PAY001", 25, 70), "acupuncture", ["M54.50"])              # BCBS excludes 97810
    add(pick("PAY001", 30, 70), "pa-mri-lumbar", ["M51.16"])           # PA 72148
    add(pick("PAY001", 50, 85), "pa-knee-arthroscopy", ["M17.11"])     # PA 29881
    add(pick("PAY002", 20, 55), "cosmetic-dermabrasion", [])           # UHC excludes Z41.1 / 15780
    add(pick("PAY002", 40, 80), "pa-sleep-study", ["G47.33", "E66.9"])  # PA 95810
    add(pick("PAY002", 55, 85), "pa-echo", ["I25.10"])                  # PA 93306 (UHC only)
    add(pick("PAY003", 25, 70), "acupuncture", ["M54.50"])              # Anthem excludes 97810
    add(pick("PAY003", 20, 60), "pa-mri-brain", ["G43.909"])           # PA 70553
    add(pick("PAY003", 45, 85), "pa-mri-knee", ["M17.11"])             # PA 73721
    return patients


# ---------------------------------------------------------------------------------------------
# Clinical timeline
# ---------------------------------------------------------------------------------------------
class Visit:
    def __init__(self, patient, kind, day, hour, minute, practitioner, dx, billing, duration, location=LOC_MAIN):
        self.patient, self.kind, self.day = patient, kind, day
        self.hour, self.minute = hour, minute
        self.practitioner = practitioner
        self.dx = dx                  # ICD codes, principal first
        self.billing = billing        # [(cpt, units, [dx pointers 1-based])]
        self.duration = duration
        self.location = location
        self.panels = []
        self.meds = []
        self.acute = None             # acute ICD code diagnosed at this visit
        self.vitals_full = False
        self.fever = False
        self.strep = None
        self.id = None


PAST_DAYS_1 = workdays(date(2025, 2, 3), date(2025, 6, 27))
PAST_DAYS_2 = workdays(date(2025, 7, 7), date(2025, 11, 21))
SLOT_DAYS = workdays(date(2026, 1, 12), date(2026, 1, 23))
PA_DAYS = workdays(date(2026, 1, 26), date(2026, 2, 27))
VISIT_TIMES = [(8, 30), (9, 0), (9, 30), (10, 0), (10, 30), (11, 0), (13, 0), (13, 30), (14, 0), (14, 30), (15, 0),
               (15, 30)]

PREVENTIVE_CODE = {(1, 4): "99392", (5, 11): "99393", (12, 17): "99394"}


def em_for(n_dx):
    return "99214" if n_dx >= 2 else "99213"


def plan_visits(patients):
    visits = []

    def when(days):
        d = RNG.choice(days)
        h, m = RNG.choice(VISIT_TIMES)
        return d, h, m

    for p in patients:
        a = p.age
        # --- visit 1: preventive, well-child or chronic follow-up with the PCP -----------------
        d, h, m = when(PAST_DAYS_1)
        chronic = [c for c in p.conditions if c not in ("M51.16", "G47.33", "G43.909", "M17.11", "M54.50", "F32.9")]
        if a < 18:
            code = next(v for (lo, hi), v in PREVENTIVE_CODE.items() if lo <= max(a, 1) <= hi)
            dx = ["Z00.129"] + [c for c in chronic][:2]
            billing = [(code, 1, [1])]
            if d.month >= 9 or d.month <= 3:
                dx.append("Z23")
                billing += [("90686", 1, [len(dx)]), ("90471", 1, [len(dx)])]
            v = Visit(p, "well-child", d, h, m, p.pcp, dx, billing, 30)
            v.vitals_full = True
        elif chronic:
            dx = chronic[:4]
            em = em_for(len(dx))
            billing = [(em, 1, list(range(1, len(dx) + 1)))]
            v = Visit(p, "follow-up", d, h, m, p.pcp, dx, billing, 30 if em == "99214" else 20)
            panels = []
            for c in dx:
                for panel in CONDITION_PANELS.get(c, []):
                    if panel not in panels:
                        panels.append(panel)
            v.panels = panels
            v.meds = [rx for c in dx for rx in CHRONIC_MEDS.get(c, [])]
        else:
            code = ("99395" if a < 40 else "99396" if a < 65 else "99397")
            dx = ["Z00.00"]
            billing = [(code, 1, [1])]
            v = Visit(p, "preventive", d, h, m, p.pcp, dx, billing, 40)
            v.vitals_full = True
            v.panels = ["cbc"] + (["lipid"] if a >= 35 else [])
        if v.panels:
            v.billing.append(("36415", 1, [1]))
            for panel in v.panels:
                ptr = 1
                for i, c in enumerate(v.dx, 1):
                    if panel in CONDITION_PANELS.get(c, []):
                        ptr = i
                        break
                v.billing.append((PANELS[panel][0], 1, [ptr]))
        visits.append(v)

        # --- scenario visits ------------------------------------------------------------------
        for s in p.scenarios:
            d, h, m = when(PAST_DAYS_2)
            if s == "psych-excluded":
                v2 = Visit(p, "consult", d, h, m, "prac-0010", ["F32.9"], [("90791", 1, [1]), ("96127", 1, [1])], 60)
                v2.meds = ["312940"]
                visits.append(v2)
                d3 = PAST_DAYS_2[min(PAST_DAYS_2.index(d) + 10, len(PAST_DAYS_2) - 1)]
                visits.append(Visit(p, "therapy", d3, h, m, "prac-0010", ["F32.9"], [("90834", 1, [1])], 45))
            elif s == "acupuncture":
                v2 = Visit(p, "therapy", d, h, m, "prac-0013", ["M54.50"],
                           [("97161", 1, [1]), ("97110", 2, [1]), ("97810", 1, [1])], 60, LOC_EAST)
                v2.meds = ["310965"]
                visits.append(v2)
            elif s == "pa-mri-lumbar":
                v2 = Visit(p, "consult", d, h, m, "prac-0008", ["M51.16"], [("99244", 1, [1]), ("72100", 1, [1])],
                           40)
                v2.meds = ["310965"]
                v2.pa = ("72148", "M51.16")
                visits.append(v2)
            elif s in ("pa-knee-arthroscopy", "pa-mri-knee"):
                v2 = Visit(p, "consult", d, h, m, "prac-0008", ["M17.11"],
                           [("99243", 1, [1]), ("73562", 1, [1]), ("20610", 1, [1])], 40)
                v2.meds = ["310965"]
                v2.pa = ("29881", "M17.11") if s == "pa-knee-arthroscopy" else ("73721", "M17.11")
                visits.append(v2)
            elif s == "cosmetic-dermabrasion":
                v2 = Visit(p, "procedure", d, h, m, "prac-0009", ["Z41.1", "L90.5"], [("15780", 1, [1, 2])], 60)
                visits.append(v2)
            elif s == "pa-sleep-study":
                v2 = Visit(p, "consult", d, h, m, "prac-0011", ["G47.33", "E66.9"], [("99244", 1, [1, 2])], 40)
                v2.pa = ("95810", "G47.33")
                visits.append(v2)
            elif s == "pa-echo":
                v2 = Visit(p, "consult", d, h, m, "prac-0006", ["I25.10"], [("99244", 1, [1]), ("93000", 1, [1])],
                           40)
                v2.pa = ("93306", "I25.10")
                visits.append(v2)
            elif s == "pa-mri-brain":
                v2 = Visit(p, "consult", d, h, m, "prac-0014", ["G43.909"], [("99244", 1, [1])], 40)
                v2.meds = ["313782"]
                v2.pa = ("70553", "G43.909")
                visits.append(v2)

        # --- optional second visit: acute problem or specialist consult ------------------------
        if p.scenarios or RNG.random() > 0.42:
            continue
        d, h, m = when(PAST_DAYS_2)
        spec = [c for c in p.conditions if c in SPECIALIST_FOR and c not in ("M54.50",)]
        if spec and RNG.random() < 0.45:
            c = spec[0]
            doc = SPECIALIST_FOR[c]
            extra = {"I25.10": [("93000", 1, [1])], "J45.909": [("94010", 1, [1])], "E11.9": [("83036", 1, [1])],
                     "E03.9": [("84443", 1, [1])], "F41.1": [("96127", 1, [1])]}.get(c, [])
            code = "90791" if doc == "prac-0010" else RNG.choice(["99243", "99244"])
            v2 = Visit(p, "consult", d, h, m, doc, [c], [(code, 1, [1])] + extra, 60 if code == "90791" else 40)
            if c in ("E11.9",):
                v2.panels = ["a1c"]
                v2.billing.insert(1, ("36415", 1, [1]))
            if c == "E03.9":
                v2.panels = ["tsh"]
                v2.billing.insert(1, ("36415", 1, [1]))
            visits.append(v2)
            continue
        if a < 12:
            acute = RNG.choice(["H66.90", "J02.0", "J06.9"])
        elif p.gender == "female" and a >= 18 and RNG.random() < 0.3:
            acute = "N39.0"
        else:
            acute = RNG.choice(["J20.9", "J02.0", "J06.9", "M25.561", "R51.9", "L30.9", "B07.9", "D48.5"])
        doc = p.pcp
        billing = [("99213", 1, [1])]
        meds = []
        v2dur = 20
        if acute == "J02.0":
            billing.append(("87880", 1, [1]))
            meds = ["308182" if a < 18 else "308460"]
        elif acute == "H66.90":
            meds = ["308182"]
        elif acute == "N39.0":
            billing += [("81003", 1, [1]), ("87086", 1, [1])]
            meds = ["1648755"]
        elif acute == "J20.9":
            if RNG.random() < 0.5:
                billing.append(("71046", 1, [1]))
        elif acute == "J06.9":
            billing = [("99212", 1, [1])]
            v2dur = 15
        elif acute == "M25.561":
            billing.append(("73562", 1, [1]))
            meds = ["310965"]
        elif acute == "R51.9":
            meds = ["313782"]
        elif acute == "L30.9":
            billing = [("99212", 1, [1])]
            v2dur = 15
        elif acute == "B07.9":
            doc = "prac-0009"
            billing = [("99212", 1, [1]), ("17110", 1, [1])]
        elif acute == "D48.5":
            doc = "prac-0009"
            billing = [("99213", 1, [1]), ("11102", 1, [1])]
        v2 = Visit(p, "acute", d, h, m, doc, [acute], billing, v2dur)
        v2.acute = acute
        v2.meds = meds
        v2.fever = acute in ("J02.0", "H66.90", "J20.9") and RNG.random() < 0.7
        if acute == "J02.0":
            v2.strep = True
        visits.append(v2)

    visits.sort(key=lambda v: (v.day, v.hour, v.minute, v.patient.id))
    # Avoid double-booking a practitioner at the same time: shift by 30 minutes until free.
    taken = set()
    for v in visits:
        while (v.practitioner, v.day, v.hour, v.minute) in taken:
            _, v.hour, v.minute = add_minutes(v.day, v.hour, v.minute, 30)
        taken.add((v.practitioner, v.day, v.hour, v.minute))
    visits.sort(key=lambda v: (v.day, v.hour, v.minute, v.patient.id))
    for n, v in enumerate(visits, 1):
        v.id = n
    return visits


# ---------------------------------------------------------------------------------------------
# Resource builders: patients, related persons, coverages
# ---------------------------------------------------------------------------------------------
MARITAL = {"M": "Married", "S": "Never Married", "D": "Divorced", "W": "Widowed"}


def build_patient(p: Person, n: int):
    line, line2, city, state, zip_ = p.addr
    email_local = f"{ascii_fold(p.given).lower()}.{ascii_fold(p.family).lower().replace(chr(39), '')}"
    telecom = [{"system": "phone", "value": next_phone(), "use": "mobile", "rank": 1}]
    if RNG.random() < 0.35:
        telecom.append({"system": "phone", "value": next_phone(), "use": "home", "rank": 2})
    if p.age >= 16:
        telecom.append({"system": "email", "value": f"{email_local}{n}@example.com", "use": "home"})
    names = [human_name([p.given], p.family)]
    if p.gender == "female" and p.marital == "M" and p.age > 30 and RNG.random() < 0.3:
        names.append({"use": "maiden", "family": RNG.choice(LAST), "given": [p.given]})
    res = {
        "resourceType": "Patient",
        "id": p.id,
        "identifier": [{
            "use": "usual",
            "type": cc(THO + "v2-0203", "MR", "Medical record number"),
            "system": MRN_SYSTEM,
            "value": f"{104200 + n * 41}",
            "assigner": {"display": "Scioto Valley Medical Group"},
        }],
        "active": True,
        "name": names,
        "telecom": telecom,
        "gender": p.gender,
        "birthDate": p.birth,
        "address": [{**address(line, city, state, zip_, line2=line2), "period": {"start": "2019-01-01"}}],
        "maritalStatus": cc(THO + "v3-MaritalStatus", p.marital, MARITAL[p.marital]),
        "communication": [{"language": cc("urn:ietf:bcp:47", p.lang, LANG_DISPLAY[p.lang]), "preferred": True}],
        "generalPractitioner": [ref("Practitioner", p.pcp)],
        "managingOrganization": ref("Organization", FACILITY, "Scioto Valley Medical Group"),
    }
    if p.lang != "en":
        res["communication"].append({"language": cc("urn:ietf:bcp:47", "en", "English"), "preferred": False})
    return res


RP_REL = {"MTH": "mother", "FTH": "father", "SPS": "spouse", "SIS": "sister", "BRO": "brother",
          "DAUC": "daughter", "SONC": "son", "FRND": "unrelated friend", "NBOR": "neighbor",
          "DOMPART": "domestic partner"}


def build_related_persons(patients):
    out = []
    n = 0

    def rp(patient, given, family, gender, birth, roles, addr=None, emergency=True, guarantor=False):
        nonlocal n
        n += 1
        rels = [cc("http://terminology.hl7.org/CodeSystem/v3-RoleCode", r, RP_REL[r]) for r in roles]
        if emergency:
            rels.append(cc(THO + "v2-0131", "C", "Emergency Contact"))
        if guarantor:
            rels.append(cc("http://terminology.hl7.org/CodeSystem/v3-RoleClass", "GUAR", "guarantor"))
        res = {
            "resourceType": "RelatedPerson",
            "id": f"rp-{n:04d}",
            "active": True,
            "patient": ref("Patient", patient.id),
            "relationship": rels,
            "name": [human_name([given], family)],
            "telecom": [{"system": "phone", "value": next_phone(), "use": "mobile"}],
            "gender": gender,
        }
        if birth:
            res["birthDate"] = birth
        if addr:
            line, line2, city, state, zip_ = addr
            res["address"] = [address(line, city, state, zip_, line2=line2)]
        out.append(res)
        return res["id"]

    for p in patients:
        if hasattr(p, "parent_rp"):
            given, gender, year, code, _ = p.parent_rp
            rid = rp(p, given, p.family, gender, bdate(year), [code], p.addr, emergency=True, guarantor=True)
            p.subscriber = ("RelatedPerson", rid)
            continue
        if p.family_key is not None:
            continue  # family members are each other's contacts (and patients themselves)
        if p.age >= 18 and RNG.random() < 0.5:
            if p.marital == "M":
                roles = ["SPS"]
                given = RNG.choice(MALE if p.gender == "female" else FEMALE)
                family = p.family
                gender = "male" if p.gender == "female" else "female"
                addr = p.addr
            else:
                roles = [RNG.choice(["SIS", "BRO", "FRND", "NBOR", "DAUC", "SONC"] if p.age > 55 else
                                    ["SIS", "BRO", "FRND", "MTH", "FTH", "DOMPART"])]
                gender = "female" if roles[0] in ("SIS", "MTH", "DAUC") else (
                    "male" if roles[0] in ("BRO", "FTH", "SONC") else RNG.choice(["female", "male"]))
                given = RNG.choice(FEMALE if gender == "female" else MALE)
                family = p.family if roles[0] in ("SIS", "BRO", "MTH", "FTH", "DAUC", "SONC") else RNG.choice(LAST)
                addr = None
            guarantor = p.age >= 78 and roles[0] in ("DAUC", "SONC")
            rp(p, given, family, gender, None, roles, addr, emergency=True, guarantor=guarantor)
    return out


def build_coverage(p: Person):
    info = PAYER_INFO[p.payer]
    c = info["cost"]
    sub_type, sub_id = p.subscriber if p.subscriber else ("Patient", p.id)
    rel_code = {"self": "self", "spouse": "spouse", "child": "child"}[p.relationship]
    rel_disp = {"self": "Self", "spouse": "Spouse", "child": "Child"}[p.relationship]
    group_id, group_name = p.group
    ctb = [
        {"type": cc(THO + "coverage-copay-type", "gpvisit", "GP Office Visit"), "valueMoney": money(c["pcp"])},
        {"type": cc(THO + "coverage-copay-type", "spvisit", "Specialist Office Visit"),
         "valueMoney": money(c["spec"])},
        {"type": cc(THO + "coverage-copay-type", "emergency", "Emergency"), "valueMoney": money(c["er"])},
        {"type": cc(THO + "coverage-copay-type", "urgentcare", "Urgent Care"), "valueMoney": money(c["uc"])},
        {"type": cc(THO + "coverage-copay-type", "copaypct", "Copay Percentage"), "valueQuantity": qty_pct(c["coins"])},
        {"type": cc(THO + "coverage-copay-type", "deductible", "Deductible"), "valueMoney": money(c["ded"][0])},
        {"type": cc(THO + "coverage-copay-type", "maxoutofpocket", "Maximum out of pocket"),
         "valueMoney": money(c["oop"][0])},
    ]
    return {
        "resourceType": "Coverage",
        "id": p.id.replace("pat-", "cov-"),
        "identifier": [{
            "use": "official",
            "type": cc(THO + "v2-0203", "MB", "Member Number"),
            "system": info["member_system"],
            "value": f"{p.subscriber_id}-{p.dependent_no:02d}",
        }],
        "status": "active",
        "type": cc("http://terminology.hl7.org/CodeSystem/v3-ActCode", info["plan_type"][0], info["plan_type"][1]),
        "policyHolder": ref(sub_type, sub_id),
        "subscriber": ref(sub_type, sub_id),
        "subscriberId": p.subscriber_id,
        "beneficiary": ref("Patient", p.id, f"{p.given} {p.family}"),
        "dependent": f"{p.dependent_no:02d}",
        "relationship": cc(THO + "subscriber-relationship", rel_code, rel_disp),
        "period": {"start": p.cov_start, "end": "2026-12-31"},
        "payor": [ref("Organization", p.payer, info["name"])],
        "class": [
            {"type": cc(THO + "coverage-class", "group", "Group"), "value": group_id, "name": group_name},
            {"type": cc(THO + "coverage-class", "plan", "Plan"), "value": info["plan_id"], "name": info["plan_name"]},
        ],
        "order": 1,
        "network": info["network"],
        "costToBeneficiary": ctb,
    }


# ---------------------------------------------------------------------------------------------
# Schedules, slots, appointments
# ---------------------------------------------------------------------------------------------
def build_schedules_and_slots():
    schedules, slots = [], []
    slot_index = {}  # (prac, day, h, m) -> slot resource
    for pid in SCHEDULED:
        p = PRAC[pid]
        sched_id = pid.replace("prac-", "sched-")
        schedules.append({
            "resourceType": "Schedule",
            "id": sched_id,
            "active": True,
            "serviceCategory": [cc(THO + "service-category", "17", "General Practice")],
            "specialty": [cc(NUCC, p[8], p[9])],
            "actor": [ref("Practitioner", pid), ref("Location", LOC_MAIN)],
            "planningHorizon": {"start": dt(SLOT_DAYS[0], 8, 0), "end": dt(SLOT_DAYS[-1], 17, 0)},
            "comment": f"Morning clinic, {p[2]}: 30-minute appointments",
        })
        for d in SLOT_DAYS:
            for h, m in [(9, 0), (9, 30), (10, 0), (10, 30), (11, 0), (11, 30)]:
                d2, h2, m2 = add_minutes(d, h, m, 30)
                unavailable = d.weekday() == 4 and (h, m) == (11, 30)
                s = {
                    "resourceType": "Slot",
                    "id": f"slot-{pid[5:]}-{d.strftime('%Y%m%d')}-{h:02d}{m:02d}",
                    "serviceCategory": [cc(THO + "service-category", "17", "General Practice")],
                    "specialty": [cc(NUCC, p[8], p[9])],
                    "appointmentType": cc(THO + "v2-0276", "ROUTINE", "Routine appointment - default if not valued"),
                    "schedule": ref("Schedule", sched_id),
                    "status": "busy-unavailable" if unavailable else "free",
                    "start": dt(d, h, m),
                    "end": dt(d2, h2, m2),
                }
                if unavailable:
                    s["comment"] = "Provider meeting"
                slots.append(s)
                slot_index[(pid, d, h, m)] = s
    return schedules, slots, slot_index


VISIT_TYPES = {
    "preventive": ((SNOMED, "162673000", "General examination of patient (procedure)"), "CHECKUP",
                   "A routine check-up, such as an annual physical"),
    "well-child": ((SNOMED, "410620009", "Well child visit (procedure)"), "CHECKUP",
                   "A routine check-up, such as an annual physical"),
    "follow-up": ((SNOMED, "390906007", "Follow-up encounter (procedure)"), "FOLLOWUP",
                  "A follow up visit from a previous appointment"),
    "acute": ((SNOMED, "185345009", "Encounter for symptom (procedure)"), "WALKIN",
              "A previously unscheduled walk-in visit"),
    "consult": ((SNOMED, "11429006", "Consultation (procedure)"), "ROUTINE",
                "Routine appointment - default if not valued"),
    "therapy": ((SNOMED, "185347001", "Encounter for problem (procedure)"), "FOLLOWUP",
                "A follow up visit from a previous appointment"),
    "procedure": ((SNOMED, "185347001", "Encounter for problem (procedure)"), "ROUTINE",
                  "Routine appointment - default if not valued"),
}

DESCRIPTION = {"preventive": "Annual preventive visit", "well-child": "Well-child check",
               "follow-up": "Chronic condition follow-up", "acute": "Same-day sick visit",
               "consult": "Specialist consultation", "therapy": "Therapy session", "procedure": "Office procedure"}


def appointment_resource(aid, patient_id, prac_id, location, status, start_day, h, m, minutes, kind, reason_codes,
                         created_day, slot_id=None, description=None, comment=None, cancel_reason=None,
                         prac_status="accepted", patient_status="accepted"):
    prac = PRAC[prac_id]
    end_day, eh, em = add_minutes(start_day, h, m, minutes)
    res = {
        "resourceType": "Appointment",
        "id": aid,
        "status": status,
    }
    if cancel_reason:
        res["cancelationReason"] = cc(THO + "appointment-cancellation-reason", cancel_reason[0], cancel_reason[1])
    res.update({
        "serviceCategory": [cc(THO + "service-category", "17", "General Practice")] if prac[13] else [],
        "specialty": [cc(NUCC, prac[8], prac[9])],
        "appointmentType": cc(THO + "v2-0276", VISIT_TYPES[kind][1], VISIT_TYPES[kind][2]),
        "reasonCode": [cc(ICD10, c, ICD[c]) for c in reason_codes],
        "description": description or DESCRIPTION[kind],
        "start": dt(start_day, h, m),
        "end": dt(end_day, eh, em),
        "minutesDuration": minutes,
    })
    if not res["serviceCategory"]:
        del res["serviceCategory"]
    if slot_id:
        res["slot"] = [ref("Slot", slot_id)]
    res["created"] = dt(created_day, 10, 15)
    if comment:
        res["comment"] = comment
    res["participant"] = [
        {"type": [cc("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "SBJ", "subject")],
         "actor": ref("Patient", patient_id), "required": "required", "status": patient_status},
        {"type": [cc("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "PPRF", "primary performer")],
         "actor": ref("Practitioner", prac_id), "required": "required", "status": prac_status},
        {"actor": ref("Location", location), "required": "required", "status": "accepted"},
    ]
    return res


# ---------------------------------------------------------------------------------------------
# Observations
# ---------------------------------------------------------------------------------------------
def vital(oid, patient, enc_id, when, prac, loinc, display, value=None, unit=None, code=None, components=None,
          extra_codings=None):
    res = {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [cc(THO + "observation-category", "vital-signs", "Vital Signs")],
        "code": {"coding": [coding(LOINC, loinc, display)] + (extra_codings or []), "text": display},
        "subject": ref("Patient", patient),
        "encounter": ref("Encounter", enc_id),
        "effectiveDateTime": when,
        "issued": when,
        "performer": [ref("Practitioner", prac)],
    }
    if components:
        res["component"] = components
    else:
        res["valueQuantity"] = ucum(value, unit, code)
    return res


def lab_value(loinc, p: Person):
    conds = set(p.conditions)
    r = RNG.uniform
    if loinc == "4548-4":
        return r(6.6, 8.9) if "E11.9" in conds else r(4.8, 5.9)
    if loinc == "2345-7":
        return r(128, 205) if "E11.9" in conds else r(76, 104)
    if loinc == "2160-0":
        return r(0.62, 1.05) if p.gender == "female" else r(0.78, 1.38)
    if loinc == "3094-0":
        return r(8, 23)
    if loinc == "2951-2":
        return r(136, 144)
    if loinc == "2823-3":
        return r(3.6, 5.0)
    if loinc == "2093-3":
        return r(212, 268) if "E78.5" in conds else r(148, 198)
    if loinc == "18262-6":
        return r(128, 178) if "E78.5" in conds else r(72, 118)
    if loinc == "2085-9":
        return r(34, 52) if p.gender == "male" else r(42, 72)
    if loinc == "2571-8":
        return r(155, 260) if ("E78.5" in conds or "E11.9" in conds) else r(70, 148)
    if loinc == "3016-3":
        return r(4.6, 8.8) if "E03.9" in conds else r(0.8, 3.4)
    if loinc == "718-7":
        return r(13.6, 16.4) if p.gender == "male" else r(11.6, 14.8)
    if loinc == "6690-2":
        return r(4.7, 10.4)
    if loinc == "777-3":
        return r(175, 362)
    raise KeyError(loinc)


def interp(value, lo, hi):
    if lo is not None and value < lo:
        return cc("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "L", "Low")
    if hi is not None and value > hi:
        return cc("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "H", "High")
    return cc("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "N", "Normal")


def ref_range(loinc, lo, hi, unit, code, gender):
    if loinc == "718-7":
        lo, hi = (13.5, 17.5) if gender == "male" else (12.0, 15.5)
    rr = {}
    if lo is not None:
        rr["low"] = ucum(lo, unit, code)
    if hi is not None:
        rr["high"] = ucum(hi, unit, code)
    if lo is None:
        rr["text"] = f"<{hi} {unit}"
    elif hi is None:
        rr["text"] = f">{lo} {unit}"
    else:
        rr["text"] = f"{lo}-{hi} {unit}"
    return rr


# ---------------------------------------------------------------------------------------------
# The clinic (default partition)
# ---------------------------------------------------------------------------------------------
def build_default():
    orgs = [build_payer_org(pid) for pid in PAYERS] + [build_facility()]
    locations = build_locations()
    practitioners, roles = build_practitioners()
    people = build_people()
    patients = [build_patient(p, n) for n, p in enumerate(people, 1)]
    related = build_related_persons(people)
    coverages = [build_coverage(p) for p in people]
    schedules, slots, slot_index = build_schedules_and_slots()
    visits = plan_visits(people)

    conditions, encounters, appointments = [], [], []
    service_requests, observations, reports = [], [], []
    med_requests = []
    chronic_cond_ids = {}   # (patient, icd) -> condition id
    meds_given = set()      # (patient, rx) for chronic meds
    counters = {"cond": 0, "obs": 0, "sr": 0, "dr": 0, "mr": 0, "appt": 0}

    def nid(kind, prefix):
        counters[kind] += 1
        return f"{prefix}-{counters[kind]:04d}"

    # chronic conditions: recorded at the first visit that addresses them (onset earlier)
    for p in people:
        first_day = min(v.day for v in visits if v.patient is p)
        for c in p.conditions:
            cid = nid("cond", "cond")
            chronic_cond_ids[(p.id, c)] = cid
            onset_year = RNG.randint(max(int(p.birth[:4]) + (1 if c == "J45.909" else 18), 2008), 2024)
            if onset_year > 2024:
                onset_year = 2024
            conditions.append({
                "resourceType": "Condition",
                "id": cid,
                "clinicalStatus": cc(THO + "condition-clinical", "active", "Active"),
                "verificationStatus": cc(THO + "condition-ver-status", "confirmed", "Confirmed"),
                "category": [cc(THO + "condition-category", "problem-list-item", "Problem List Item")],
                "code": cc(ICD10, c, ICD[c], text=ICD[c]),
                "subject": ref("Patient", p.id),
                "onsetDateTime": f"{onset_year}-{RNG.randint(1, 12):02d}-{RNG.randint(1, 28):02d}",
                "recordedDate": first_day.isoformat(),
                "recorder": ref("Practitioner", p.pcp),
                "asserter": ref("Practitioner", p.pcp),
            })

    pa_orders = []
    for v in visits:
        p = v.patient
        appt_id = nid("appt", "appt")
        enc_id = f"enc-{v.id:04d}"
        end_day, eh, em = add_minutes(v.day, v.hour, v.minute, v.duration)
        start, end = dt(v.day, v.hour, v.minute), dt(end_day, eh, em)
        created = v.day - timedelta(days=(0 if v.kind == "acute" else RNG.randint(7, 35)))
        appointments.append(appointment_resource(appt_id, p.id, v.practitioner, v.location, "fulfilled", v.day,
                                                 v.hour, v.minute, v.duration, v.kind, v.dx[:1], created))
        # acute condition
        diag_refs = []
        if v.acute:
            cid = nid("cond", "cond")
            onset = v.day - timedelta(days=RNG.randint(1, 5))
            conditions.append({
                "resourceType": "Condition",
                "id": cid,
                "clinicalStatus": cc(THO + "condition-clinical", "resolved", "Resolved"),
                "verificationStatus": cc(THO + "condition-ver-status", "confirmed", "Confirmed"),
                "category": [cc(THO + "condition-category", "encounter-diagnosis", "Encounter Diagnosis")],
                "code": cc(ICD10, v.acute, ICD[v.acute], text=ICD[v.acute]),
                "subject": ref("Patient", p.id),
                "onsetDateTime": onset.isoformat(),
                "abatementDateTime": (v.day + timedelta(days=RNG.randint(7, 21))).isoformat(),
                "recordedDate": v.day.isoformat(),
                "recorder": ref("Practitioner", v.practitioner),
                "asserter": ref("Practitioner", v.practitioner),
            })
            v.acute_cond = cid
            diag_refs.append(cid)
        for c in v.dx:
            if (p.id, c) in chronic_cond_ids and chronic_cond_ids[(p.id, c)] not in diag_refs:
                diag_refs.append(chronic_cond_ids[(p.id, c)])
        enc = {
            "resourceType": "Encounter",
            "id": enc_id,
            "identifier": [{"system": SID + "visit-number", "value": f"V{2025000000 + v.id * 7}"}],
            "status": "finished",
            "class": coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "AMB", "ambulatory"),
            "type": [cc(*VISIT_TYPES[v.kind][0])],
            "subject": ref("Patient", p.id),
            "participant": [{
                "type": [cc("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "PPRF", "primary performer")],
                "period": {"start": start, "end": end},
                "individual": ref("Practitioner", v.practitioner),
            }],
            "appointment": [ref("Appointment", appt_id)],
            "period": {"start": start, "end": end},
            "length": ucum(v.duration, "min"),
            "reasonCode": [cc(ICD10, c, ICD[c]) for c in v.dx[:1]],
        }
        if diag_refs:
            enc["diagnosis"] = [{"condition": ref("Condition", cid),
                                 "use": cc(THO + "diagnosis-role", "billing", "Billing"),
                                 "rank": i} for i, cid in enumerate(diag_refs, 1)]
        enc["location"] = [{"location": ref("Location", v.location), "status": "completed"}]
        enc["serviceProvider"] = ref("Organization", FACILITY)
        encounters.append(enc)
        v.appt_id, v.enc_id = appt_id, enc_id

        # vitals
        vd, vh, vm = add_minutes(v.day, v.hour, v.minute, 5)
        when = dt(vd, vh, vm)
        nurse_prac = v.practitioner
        obs_here = []
        if p.age >= 3:
            hyper = "I10" in p.conditions
            sys_bp = RNG.randint(134, 152) if hyper else RNG.randint(104, 128) if p.age >= 18 else RNG.randint(96, 114)
            dia_bp = RNG.randint(84, 96) if hyper else RNG.randint(64, 82) if p.age >= 18 else RNG.randint(56, 72)
            comps = [
                {"code": cc(LOINC, "8480-6", "Systolic blood pressure"), "valueQuantity": ucum(sys_bp, "mmHg", "mm[Hg]")},
                {"code": cc(LOINC, "8462-4", "Diastolic blood pressure"), "valueQuantity": ucum(dia_bp, "mmHg", "mm[Hg]")},
            ]
            obs_here.append(vital(nid("obs", "obs"), p.id, enc_id, when, nurse_prac, "85354-9",
                                  "Blood pressure panel with all children optional", components=comps))
        hr = RNG.randint(62, 92) if p.age >= 12 else RNG.randint(80, 118)
        if v.fever:
            hr += 12
        obs_here.append(vital(nid("obs", "obs"), p.id, enc_id, when, nurse_prac, "8867-4", "Heart rate", hr,
                              "beats/minute", "/min"))
        weight = round(p.weight + RNG.uniform(-1.5, 1.5), 1)
        obs_here.append(vital(nid("obs", "obs"), p.id, enc_id, when, nurse_prac, "29463-7", "Body weight", weight,
                              "kg"))
        temp = round(RNG.uniform(38.1, 38.9) if v.fever else RNG.uniform(36.4, 37.1), 1)
        obs_here.append(vital(nid("obs", "obs"), p.id, enc_id, when, nurse_prac, "8310-5", "Body temperature", temp,
                              "C", "Cel"))
        if v.vitals_full:
            obs_here.append(vital(nid("obs", "obs"), p.id, enc_id, when, nurse_prac, "8302-2", "Body height",
                                  p.height, "cm"))
            bmi = round(weight / (p.height / 100) ** 2, 1)
            obs_here.append(vital(nid("obs", "obs"), p.id, enc_id, when, nurse_prac, "39156-5",
                                  "Body mass index (BMI) [Ratio]", bmi, "kg/m2"))
        if v.acute in ("J20.9", "J02.0", "J06.9") or "J45.909" in v.dx or "G47.33" in v.dx:
            obs_here.append(vital(nid("obs", "obs"), p.id, enc_id, when, nurse_prac, "9279-1", "Respiratory rate",
                                  RNG.randint(14, 22) if p.age >= 12 else RNG.randint(20, 28), "breaths/minute",
                                  "/min"))
            obs_here.append(vital(nid("obs", "obs"), p.id, enc_id, when, nurse_prac, "59408-5",
                                  "Oxygen saturation in Arterial blood by Pulse oximetry", RNG.randint(94, 99), "%",
                                  extra_codings=[coding(LOINC, "2708-6", "Oxygen saturation in Arterial blood")]))
        observations += obs_here

        # labs: one ServiceRequest + DiagnosticReport per panel
        collected_day, ch, cm = add_minutes(v.day, v.hour, v.minute, v.duration + 10)
        collected = dt(collected_day, ch, cm)
        result_day = collected_day + timedelta(days=1)
        issued = dt(result_day, 7, 45)
        for panel in v.panels:
            cpt, rep_code, rep_disp, analytes = PANELS[panel]
            reason = next((c for c in v.dx if panel in CONDITION_PANELS.get(c, [])), v.dx[0])
            sr_id = nid("sr", "sr")
            service_requests.append({
                "resourceType": "ServiceRequest",
                "id": sr_id,
                "identifier": [{"system": SID + "lab-order", "value": f"LO-{250000 + counters['sr'] * 3}"}],
                "status": "completed",
                "intent": "order",
                "category": [cc(SNOMED, "108252007", "Laboratory procedure")],
                "priority": "routine",
                "code": {"coding": [coding(LOINC, rep_code, rep_disp), coding(CPT, cpt, CPT_TABLE[cpt][0])],
                         "text": rep_disp},
                "subject": ref("Patient", p.id),
                "encounter": ref("Encounter", enc_id),
                "occurrenceDateTime": collected,
                "authoredOn": start,
                "requester": ref("Practitioner", v.practitioner),
                "performer": [ref("Organization", FACILITY)],
                "reasonCode": [cc(ICD10, reason, ICD[reason])],
            })
            result_ids = []
            for loinc in analytes:
                disp, unit, code, lo, hi, dec = LAB[loinc]
                val = round(lab_value(loinc, p), dec)
                if dec == 0:
                    val = int(val)
                oid = nid("obs", "obs")
                result_ids.append(oid)
                observations.append({
                    "resourceType": "Observation",
                    "id": oid,
                    "basedOn": [ref("ServiceRequest", sr_id)],
                    "status": "final",
                    "category": [cc(THO + "observation-category", "laboratory", "Laboratory")],
                    "code": {"coding": [coding(LOINC, loinc, disp)], "text": disp},
                    "subject": ref("Patient", p.id),
                    "encounter": ref("Encounter", enc_id),
                    "effectiveDateTime": collected,
                    "issued": issued,
                    "performer": [ref("Organization", FACILITY)],
                    "valueQuantity": ucum(val, unit, code),
                    "interpretation": [interp(val, lo if loinc != "718-7" else (13.5 if p.gender == "male" else 12.0),
                                              hi if loinc != "718-7" else (17.5 if p.gender == "male" else 15.5))],
                    "referenceRange": [ref_range(loinc, lo, hi, unit, code, p.gender)],
                })
            reports.append({
                "resourceType": "DiagnosticReport",
                "id": nid("dr", "dr"),
                "basedOn": [ref("ServiceRequest", sr_id)],
                "status": "final",
                "category": [cc(THO + "v2-0074", "LAB", "Laboratory")],
                "code": {"coding": [coding(LOINC, rep_code, rep_disp)], "text": rep_disp},
                "subject": ref("Patient", p.id),
                "encounter": ref("Encounter", enc_id),
                "effectiveDateTime": collected,
                "issued": issued,
                "performer": [ref("Organization", FACILITY)],
                "resultsInterpreter": [ref("Practitioner", v.practitioner)],
                "result": [ref("Observation", oid) for oid in result_ids],
            })
        if v.strep:
            observations.append({
                "resourceType": "Observation",
                "id": nid("obs", "obs"),
                "status": "final",
                "category": [cc(THO + "observation-category", "laboratory", "Laboratory")],
                "code": {"coding": [coding(LOINC, "78012-2",
                                           "Streptococcus pyogenes Ag [Presence] in Throat by Rapid immunoassay")],
                         "text": "Rapid strep A antigen"},
                "subject": ref("Patient", p.id),
                "encounter": ref("Encounter", enc_id),
                "effectiveDateTime": when,
                "issued": dt(*add_minutes(vd, vh, vm, 15)),
                "performer": [ref("Organization", FACILITY)],
                "valueCodeableConcept": cc(SNOMED, "10828004", "Positive"),
                "interpretation": [cc("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "POS",
                                      "Positive")],
            })

        # prescriptions
        for rx in v.meds:
            chronic = rx in [m for c in CHRONIC_MEDS.values() for m in c] and rx not in ("310965", "313782")
            if chronic:
                if (p.id, rx) in meds_given:
                    continue
                meds_given.add((p.id, rx))
            sig, freq, period, unit, dose, qty, days, refills, prn = SIG[rx]
            reason = next((c for c in v.dx if rx in CHRONIC_MEDS.get(c, [])), v.acute or v.dx[0])
            mr = {
                "resourceType": "MedicationRequest",
                "id": nid("mr", "medrx"),
                "identifier": [{"system": SID + "prescription-number", "value": f"RX{7100000 + counters['mr'] * 13}"}],
                "status": "active" if chronic else "completed",
                "intent": "order",
                "category": [cc(THO + "medicationrequest-category", "outpatient", "Outpatient")],
                "medicationCodeableConcept": cc(RXNORM, rx, RX[rx][0], text=RX[rx][0]),
                "subject": ref("Patient", p.id),
                "encounter": ref("Encounter", enc_id),
                "authoredOn": end,
                "requester": ref("Practitioner", v.practitioner),
                "reasonCode": [cc(ICD10, reason, ICD[reason])],
                "dosageInstruction": [{
                    "sequence": 1,
                    "text": sig,
                    "timing": {"repeat": {"frequency": freq, "period": period, "periodUnit": unit}},
                    "asNeededBoolean": prn,
                    "route": cc(SNOMED, "447694001" if RX[rx][1] == "MDINHL" else "26643006",
                                "Respiratory tract route (qualifier value)" if RX[rx][1] == "MDINHL"
                                else "Oral route (qualifier value)"),
                    "doseAndRate": [{"doseQuantity": {
                        "value": dose,
                        "unit": {"TAB": "tablet", "CAP": "capsule", "MDINHL": "puff"}[RX[rx][1]],
                        "system": "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm",
                        "code": RX[rx][1]}}],
                }],
                "dispenseRequest": {
                    "validityPeriod": {"start": v.day.isoformat(),
                                       "end": (v.day + timedelta(days=365 if chronic else 30)).isoformat()},
                    "numberOfRepeatsAllowed": refills,
                    "quantity": {"value": qty,
                                 "unit": {"TAB": "tablet", "CAP": "capsule", "MDINHL": "inhaler"}[RX[rx][1]],
                                 "system": "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm",
                                 "code": RX[rx][1]},
                    "expectedSupplyDuration": {"value": days, "unit": "days", "system": UCUM, "code": "d"},
                },
                "substitution": {"allowedBoolean": True},
            }
            med_requests.append(mr)

        # orders needing prior authorization (performed in 2026)
        if getattr(v, "pa", None):
            cpt, icd = v.pa
            sr_id = nid("sr", "sr")
            category = {"62": (SNOMED, "363679005", "Imaging"), "73": (SNOMED, "103693007", "Diagnostic procedure"),
                        "2": (SNOMED, "387713003", "Surgical procedure")}[CPT_TABLE[cpt][2]]
            perform_day = PA_DAYS[(v.id * 3) % len(PA_DAYS)]
            service_requests.append({
                "resourceType": "ServiceRequest",
                "id": sr_id,
                "identifier": [{"system": SID + "order", "value": f"OR-{880000 + counters['sr'] * 7}"}],
                "status": "active",
                "intent": "order",
                "category": [cc(*category)],
                "priority": "routine",
                "code": cc(CPT, cpt, CPT_TABLE[cpt][0], text=CPT_TABLE[cpt][0]),
                "subject": ref("Patient", p.id),
                "encounter": ref("Encounter", enc_id),
                "occurrenceDateTime": dt(perform_day, 8, 0),
                "authoredOn": end,
                "requester": ref("Practitioner", v.practitioner),
                "performer": [ref("Organization", FACILITY)],
                "locationReference": [ref("Location", LOC_EAST)],
                "reasonCode": [cc(ICD10, icd, ICD[icd])],
                "note": [{"text": "Prior authorization required by the patient's plan; submitted to payer."}],
            })
            pa_orders.append((v, cpt, icd, perform_day, sr_id))

    # appointments that did not happen (cancelled / no-show) and upcoming ones
    extra_appts = []
    cancel_reasons = [("pat", "Patient"), ("prov", "Provider"), ("oth-weath", "Other: Weather")]
    for i, p in enumerate(people[::6]):
        d = RNG.choice(PAST_DAYS_2)
        h, m = RNG.choice(VISIT_TIMES)
        if i % 3 == 2:
            extra_appts.append(appointment_resource(nid("appt", "appt"), p.id, p.pcp, LOC_MAIN, "noshow", d, h, m, 20,
                                                    "follow-up", (p.conditions or ["Z00.00"])[:1],
                                                    d - timedelta(days=21),
                                                    comment="Patient did not arrive; reminder call left on voicemail"))
        else:
            reason = cancel_reasons[i % len(cancel_reasons)]
            extra_appts.append(appointment_resource(nid("appt", "appt"), p.id, p.pcp, LOC_MAIN, "cancelled", d, h, m,
                                                    20, "follow-up", (p.conditions or ["Z00.00"])[:1],
                                                    d - timedelta(days=14), cancel_reason=reason,
                                                    comment="Cancelled by phone; patient will reschedule"))
    # upcoming January 2026 visits booked into the PCPs' slots
    free = {pid: [s for s in slots if s["status"] == "free" and s["id"].startswith(f"slot-{pid[5:]}-")]
            for pid in SCHEDULED}
    for pid in SCHEDULED:
        free[pid].sort(key=lambda s: s["id"])
    upcoming = [p for p in people if p.pcp in SCHEDULED]
    for k, p in enumerate(upcoming):
        if k % 2:
            continue
        pool = free[p.pcp]
        s = pool.pop((k * 7) % len(pool))
        s["status"] = "busy"
        start_day = date.fromisoformat(s["start"][:10])
        h, m = int(s["start"][11:13]), int(s["start"][14:16])
        kind = "follow-up" if p.conditions else ("well-child" if p.age < 18 else "preventive")
        extra_appts.append(appointment_resource(
            nid("appt", "appt"), p.id, p.pcp, LOC_MAIN, "booked", start_day, h, m, 30, kind,
            (p.conditions or ["Z00.129" if p.age < 18 else "Z00.00"])[:1], date(2025, 12, 1) + timedelta(days=k % 9),
            slot_id=s["id"]))
    # procedures awaiting prior authorization
    for v, cpt, icd, perform_day, sr_id in pa_orders:
        extra_appts.append(appointment_resource(
            nid("appt", "appt"), v.patient.id, v.practitioner, LOC_EAST, "pending", perform_day, 8, 0,
            {"29881": 120, "95810": 480}.get(cpt, 60), "procedure", [icd], v.day + timedelta(days=3),
            description=CPT_TABLE[cpt][0], comment="Awaiting prior authorization from the payer",
            prac_status="accepted", patient_status="accepted"))
    appointments += extra_appts

    medications = [{
        "resourceType": "Medication",
        "id": f"med-{code}",
        "code": cc(RXNORM, code, disp, text=disp),
        "status": "active",
        "form": cc("http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm", form, form_disp),
    } for code, (disp, form, form_disp) in RX.items()]

    files = [
        ("01-organizations", orgs),
        ("02-locations", locations),
        ("03-practitioners", practitioners),
        ("04-practitioner-roles", roles),
        ("05-patients", patients),
        ("06-related-persons", related),
        ("07-coverages", coverages),
        ("08-schedules-slots", schedules + slots),
        ("09-appointments", appointments),
        ("10-conditions", conditions),
        ("11-encounters", encounters),
        ("12-service-requests", service_requests),
        ("13-observations", observations),
        ("14-diagnostic-reports", reports),
        ("15-medications", medications),
        ("16-medication-requests", med_requests),
    ]
    return files, people, visits, pa_orders


# ---------------------------------------------------------------------------------------------
# Payer partitions
# ---------------------------------------------------------------------------------------------
def code_cc(code):
    if code in ICD:
        return cc(ICD10, code, ICD[code])
    return cc(CPT, code, CPT_TABLE[code][0])


def cost(ctype, ctype_disp, value, applicability="in-network", qualifiers=()):
    c = {
        "type": cc(THO + "coverage-copay-type", ctype, ctype_disp),
        "applicability": cc(THO + "applicability", applicability,
                            {"in-network": "In Network", "out-of-network": "Out of Network"}[applicability]),
    }
    if qualifiers:
        c["qualifiers"] = list(qualifiers)
    c["value"] = value
    return c


Q_IND = cc(THO + "benefit-unit", "individual", "Individual")
Q_FAM = cc(THO + "benefit-unit", "family", "Family")
Q_ANNUAL = cc(THO + "benefit-term", "annual", "Annual")
Q_WAIVED = cc(FCS + "cost-share-rule", "deductible-waived", "Deductible does not apply")
Q_APPLIES = cc(FCS + "cost-share-rule", "deductible-applies", "Deductible applies first")


def x12(code):
    return cc(X12_SVC, code, X12[code])


def build_insurance_plan(pid):
    info = PAYER_INFO[pid]
    c = info["cost"]
    excluded = set(info["excluded_dx"]) | set(info["excluded_px"])
    covered_dx = [code for code in ICD if code not in excluded]
    covered_px = [code for code in CPT_TABLE if code not in excluded]
    ext = []
    ext += [{"url": EXT_COVERED, "valueCodeableConcept": code_cc(code)} for code in covered_dx + covered_px]
    ext += [{"url": EXT_EXCLUDED, "valueCodeableConcept": code_cc(code)}
            for code in info["excluded_dx"] + info["excluded_px"]]
    ext += [{"url": EXT_PRIOR_AUTH, "valueCodeableConcept": code_cc(code)} for code in info["prior_auth"]]
    for code in covered_px:
        desc, charge, cat = CPT_TABLE[code]
        factor = info["fee_factor"] * (1.0 + ((int(code) * 37) % 11 - 5) / 100.0)
        ext.append({"url": EXT_FEE, "extension": [
            {"url": "code", "valueCodeableConcept": code_cc(code)},
            {"url": "allowedAmount", "valueMoney": money(round(charge * factor, 2))},
            {"url": "serviceCategory", "valueCodeableConcept": x12(cat)},
        ]})

    usd = qty_usd
    plan_wide = [
        cost("deductible", "Deductible", usd(c["ded"][0]), qualifiers=(Q_IND, Q_ANNUAL)),
        cost("deductible", "Deductible", usd(c["ded"][1]), qualifiers=(Q_FAM, Q_ANNUAL)),
        cost("maxoutofpocket", "Maximum out of pocket", usd(c["oop"][0]), qualifiers=(Q_IND, Q_ANNUAL)),
        cost("maxoutofpocket", "Maximum out of pocket", usd(c["oop"][1]), qualifiers=(Q_FAM, Q_ANNUAL)),
        cost("copaypct", "Copay Percentage", qty_pct(c["coins"]), qualifiers=(Q_APPLIES,)),
    ]
    if c["ded_oon"]:
        plan_wide += [
            cost("deductible", "Deductible", usd(c["ded_oon"][0]), "out-of-network", (Q_IND, Q_ANNUAL)),
            cost("deductible", "Deductible", usd(c["ded_oon"][1]), "out-of-network", (Q_FAM, Q_ANNUAL)),
            cost("maxoutofpocket", "Maximum out of pocket", usd(c["oop_oon"][0]), "out-of-network",
                 (Q_IND, Q_ANNUAL)),
            cost("maxoutofpocket", "Maximum out of pocket", usd(c["oop_oon"][1]), "out-of-network",
                 (Q_FAM, Q_ANNUAL)),
            cost("copaypct", "Copay Percentage", qty_pct(c["coins_oon"]), "out-of-network", (Q_APPLIES,)),
        ]

    def copay_benefit(btype, amount, waived=True, pct=None):
        costs = [cost("copay", "Copay Amount", usd(amount), qualifiers=(Q_WAIVED if waived else Q_APPLIES,))]
        if pct is not None:
            costs.append(cost("copaypct", "Copay Percentage", qty_pct(pct),
                              qualifiers=(Q_WAIVED if waived else Q_APPLIES,)))
        return {"type": btype, "cost": costs}

    def coins_benefit(btype):
        return {"type": btype, "cost": [cost("copaypct", "Copay Percentage", qty_pct(c["coins"]),
                                             qualifiers=(Q_APPLIES,))]}

    gp = cc(THO + "coverage-copay-type", "gpvisit", "GP Office Visit")
    sp = cc(THO + "coverage-copay-type", "spvisit", "Specialist Office Visit")
    specific = [
        {"category": x12("30"), "benefit": [{"type": x12("30"), "cost": plan_wide}]},
        {"category": x12("BZ"), "benefit": [copay_benefit(x12("BZ"), 0, True, 0)]},
        {"category": x12("98"), "benefit": [copay_benefit(gp, c["pcp"], True, 0), copay_benefit(sp, c["spec"], True, 0)]},
        {"category": x12("3"), "benefit": [copay_benefit(sp, c["spec"], True, 0)]},
        {"category": x12("5"), "benefit": [copay_benefit(x12("5"), 0, True, 0) if c["lab_waived"]
                                           else coins_benefit(x12("5"))]},
        {"category": x12("4"), "benefit": [coins_benefit(x12("4"))]},
        {"category": x12("62"), "benefit": [coins_benefit(x12("62"))]},
        {"category": x12("73"), "benefit": [coins_benefit(x12("73"))]},
        {"category": x12("2"), "benefit": [coins_benefit(x12("2"))]},
        {"category": x12("1"), "benefit": [coins_benefit(x12("1"))]},
        {"category": x12("PT"), "benefit": [copay_benefit(x12("PT"), c["pt"], True, 0)]},
        {"category": x12("MH"), "benefit": [copay_benefit(x12("MH"), c["mh"], True, 0)]},
        {"category": x12("86"), "benefit": [copay_benefit(cc(THO + "coverage-copay-type", "emergency", "Emergency"),
                                                          c["er"], False, c["coins"])]},
        {"category": x12("UC"), "benefit": [copay_benefit(cc(THO + "coverage-copay-type", "urgentcare",
                                                             "Urgent Care"), c["uc"], True, 0)]},
    ]
    hmo = info["plan_type"][0] == "HMO"
    pa_list = ", ".join(info["prior_auth"])
    coverage_benefits = [
        {"type": x12("BZ"), "requirement": "ACA preventive services covered in full in-network; deductible waived"},
        {"type": x12("98"), "requirement": "Primary care copay; deductible waived"},
        {"type": x12("3"), "requirement": ("Specialist visit requires a PCP referral" if hmo else
                                          "Specialist visit; no referral required in-network")},
        {"type": x12("5"), "requirement": "In-network laboratory only"},
        {"type": x12("4")},
        {"type": x12("62"), "requirement": f"Prior authorization required ({pa_list})"},
        {"type": x12("73"), "requirement": "Attended sleep studies require prior authorization"},
        {"type": x12("2"), "requirement": "Outpatient arthroscopy requires prior authorization; "
                                          "cosmetic procedures excluded"},
        {"type": x12("PT"), "requirement": "Combined PT/OT visit limit",
         "limit": [{"value": {"value": 30 if not hmo else 40, "unit": "visits", "system": UCUM, "code": "{visits}"},
                    "code": {"text": "visits per calendar year"}}]},
        {"type": x12("MH"), "requirement": "Outpatient behavioral health; "
                                           + ("diagnoses F32.9 and Z51.11 excluded under this group contract"
                                              if pid == "PAY001" else "parity with medical benefits")},
        {"type": x12("86"), "requirement": "Emergency services covered in and out of network"},
        {"type": x12("UC")},
    ]
    for b in coverage_benefits:
        if "requirement" not in b:
            b["requirement"] = "Covered; plan cost sharing applies"
    p1, p2, p4 = info["premium"]
    return {
        "resourceType": "InsurancePlan",
        "id": info["plan_id"],
        "extension": ext,
        "identifier": [{"use": "official", "system": SID + "insurance-plan", "value": info["plan_id"]}],
        "status": "active",
        "type": [cc(THO + "insurance-plan-type", "medical", "Medical")],
        "name": info["plan_name"],
        "alias": [info["plan_alias"]],
        "period": {"start": "2025-01-01", "end": "2026-12-31"},
        "ownedBy": ref("Organization", pid, info["name"]),
        "administeredBy": ref("Organization", pid, info["name"]),
        "contact": [{
            "purpose": cc(THO + "contactentity-type", "PAYOR", "Payor"),
            "name": {"text": f"{info['alias']} Provider Services"},
            "telecom": [{"system": "phone", "value": info["phone"], "use": "work"}],
        }],
        "coverage": [{"type": x12("30"), "benefit": coverage_benefits}],
        "plan": [{
            "identifier": [{"system": SID + "insurance-plan", "value": info["plan_id"]}],
            "type": cc(FCS + "plan-type", info["plan_type"][0].lower(), info["plan_type"][0]),
            "generalCost": [
                {"type": {"text": "Monthly premium"}, "groupSize": 1, "cost": money(p1),
                 "comment": "Employee only"},
                {"type": {"text": "Monthly premium"}, "groupSize": 2, "cost": money(p2),
                 "comment": "Employee + spouse"},
                {"type": {"text": "Monthly premium"}, "groupSize": 4, "cost": money(p4),
                 "comment": "Family"},
            ],
            "specificCost": specific,
        }],
    }


def build_claims(pid, visits, pa_orders, start_no, pa_start_no):
    claims = []
    n = start_no
    for v in visits:
        p = v.patient
        if p.payer != pid:
            continue
        prac = PRAC[v.practitioner]
        created_day = v.day + timedelta(days=1 + (v.id % 4))
        items, total = [], 0.0
        for seq, (cpt, units, ptrs) in enumerate(v.billing, 1):
            desc, charge, cat = CPT_TABLE[cpt]
            net = round(charge * units, 2)
            total += net
            items.append({
                "sequence": seq,
                "careTeamSequence": [1],
                "diagnosisSequence": ptrs,
                "category": x12(cat),
                "productOrService": cc(CPT, cpt, desc),
                "servicedDate": v.day.isoformat(),
                "locationCodeableConcept": cc(POS, "11", "Office"),
                "quantity": {"value": units},
                "unitPrice": money(charge),
                "net": money(net),
            })
        claims.append({
            "resourceType": "Claim",
            "id": f"clm-{n:04d}",
            "identifier": [{"system": SID + "claim-number", "value": f"CLM-2025-{n:06d}"}],
            "status": "active",
            "type": cc(THO + "claim-type", "professional", "Professional"),
            "use": "claim",
            "patient": ref("Patient", p.id),
            "billablePeriod": {"start": v.day.isoformat(), "end": v.day.isoformat()},
            "created": dt(created_day, 16, (v.id * 7) % 60),
            "insurer": ref("Organization", pid, PAYER_INFO[pid]["name"]),
            "provider": ref("Practitioner", v.practitioner),
            "priority": cc(THO + "processpriority", "normal", "Normal"),
            "payee": {"type": cc(THO + "payeetype", "provider", "Provider")},
            "facility": ref("Location", v.location),
            "careTeam": [{"sequence": 1, "provider": ref("Practitioner", v.practitioner), "responsible": True,
                          "role": cc(THO + "claimcareteamrole", "primary", "Primary provider"),
                          "qualification": cc(NUCC, prac[8], prac[9])}],
            "diagnosis": [{"sequence": i, "diagnosisCodeableConcept": cc(ICD10, c, ICD[c]),
                           "type": [cc(THO + "ex-diagnosistype", "principal" if i == 1 else "clinical",
                                       "Principal Diagnosis" if i == 1 else "Clinical Diagnosis")]}
                          for i, c in enumerate(v.dx, 1)],
            "insurance": [{"sequence": 1, "focal": True, "coverage": ref("Coverage", p.id.replace("pat-", "cov-"))}],
            "item": items,
            "total": money(total),
        })
        n += 1
    m = pa_start_no
    for v, cpt, icd, perform_day, _sr in pa_orders:
        p = v.patient
        if p.payer != pid:
            continue
        prac = PRAC[v.practitioner]
        desc, charge, cat = CPT_TABLE[cpt]
        created_day = date(2025, 12, 1) + timedelta(days=m % 10)
        claims.append({
            "resourceType": "Claim",
            "id": f"preauth-{m:04d}",
            "identifier": [{"system": SID + "preauth-number", "value": f"PA-2025-{m:06d}"}],
            "status": "active",
            "type": cc(THO + "claim-type", "professional", "Professional"),
            "use": "preauthorization",
            "patient": ref("Patient", p.id),
            "created": dt(created_day, 9, 30),
            "insurer": ref("Organization", pid, PAYER_INFO[pid]["name"]),
            "provider": ref("Practitioner", v.practitioner),
            "priority": cc(THO + "processpriority", "stat" if cpt == "70553" else "normal",
                           "Immediate" if cpt == "70553" else "Normal"),
            "facility": ref("Location", LOC_EAST),
            "careTeam": [{"sequence": 1, "provider": ref("Practitioner", v.practitioner), "responsible": True,
                          "role": cc(THO + "claimcareteamrole", "primary", "Primary provider"),
                          "qualification": cc(NUCC, prac[8], prac[9])}],
            "diagnosis": [{"sequence": 1, "diagnosisCodeableConcept": cc(ICD10, icd, ICD[icd]),
                           "type": [cc(THO + "ex-diagnosistype", "principal", "Principal Diagnosis")]}],
            "insurance": [{"sequence": 1, "focal": True, "coverage": ref("Coverage", p.id.replace("pat-", "cov-"))}],
            "item": [{
                "sequence": 1,
                "careTeamSequence": [1],
                "diagnosisSequence": [1],
                "category": x12(cat),
                "productOrService": cc(CPT, cpt, desc),
                "servicedDate": perform_day.isoformat(),
                "locationCodeableConcept": cc(POS, "22", "On Campus-Outpatient Hospital"),
                "quantity": {"value": 1},
                "unitPrice": money(charge),
                "net": money(charge),
            }],
            "total": money(charge),
        })
        m += 1
    return claims, n, m


def refs_in(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "reference" and isinstance(v, str):
                yield v
            else:
                yield from refs_in(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from refs_in(v)


COPY_ORDER = [("Organization", "01-organizations"), ("Location", "03-locations"),
              ("Practitioner", "04-practitioners"), ("Patient", "05-patients"),
              ("RelatedPerson", "06-related-persons")]


def build_payer(pid, default_index, people, visits, pa_orders, counters):
    members = [p for p in people if p.payer == pid]
    member_ids = {p.id for p in members}
    own_org = default_index[("Organization", pid)]
    plan = build_insurance_plan(pid)
    patients = [default_index[("Patient", p.id)] for p in members]
    coverages = [default_index[("Coverage", p.id.replace("pat-", "cov-"))] for p in members]
    claims, counters[0], counters[1] = build_claims(pid, visits, pa_orders, counters[0], counters[1])

    present = {("Organization", pid), ("InsurancePlan", plan["id"])}
    present |= {("Patient", r["id"]) for r in patients}
    present |= {("Coverage", r["id"]) for r in coverages}
    present |= {("Claim", r["id"]) for r in claims}
    copies = {t: [] for t, _ in COPY_ORDER}
    frontier = [own_org, plan] + patients + coverages + claims
    while frontier:
        nxt = []
        for res in frontier:
            for r in refs_in(res):
                rtype, rid = r.split("/", 1)
                key = (rtype, rid)
                if key in present:
                    continue
                if key not in default_index:
                    raise SystemExit(f"{pid}: reference {r} has no target in the default partition")
                if rtype == "Patient" and rid not in member_ids:
                    raise SystemExit(f"{pid}: would copy non-member patient {rid}")
                if rtype == "Organization" and rid in PAYERS:
                    raise SystemExit(f"{pid}: would copy another payer {rid}")
                if rtype not in copies:
                    raise SystemExit(f"{pid}: unexpected copied type {rtype}")
                present.add(key)
                target = default_index[key]
                copies[rtype].append(target)
                nxt.append(target)
        frontier = nxt
    for t in copies:
        copies[t].sort(key=lambda r: r["id"])
    files = [
        ("01-organizations", [own_org] + copies["Organization"]),
        ("02-insurance-plan", [plan]),
        ("03-locations", copies["Location"]),
        ("04-practitioners", copies["Practitioner"]),
        ("05-patients", patients),
        ("06-related-persons", copies["RelatedPerson"]),
        ("07-coverages", coverages),
        ("08-claims", claims),
    ]
    return [(name, res) for name, res in files if res]


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------
def bundle(partition, name, resources):
    return {
        "resourceType": "Bundle",
        "id": f"seed-{partition}-{name}".replace("/", "-"),
        "type": "transaction",
        "entry": [{
            "fullUrl": f"{r['resourceType']}/{r['id']}",
            "resource": r,
            "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
        } for r in resources],
    }


def write_partition(directory: Path, partition: str, files):
    directory.mkdir(parents=True, exist_ok=True)
    for old in sorted(directory.glob("[0-9][0-9]-*.json")):
        old.unlink()
    for name, resources in files:
        text = json.dumps(bundle(partition, name, resources), indent=2, ensure_ascii=False) + "\n"
        (directory / f"{name}.json").write_text(text, encoding="utf-8")


def main():
    default_files, people, visits, pa_orders = build_default()
    index = {}
    for _, resources in default_files:
        for r in resources:
            key = (r["resourceType"], r["id"])
            if key in index:
                raise SystemExit(f"duplicate id {key}")
            index[key] = r
    payer_files = {}
    counters = [1, 1]
    for pid in PAYERS:
        payer_files[pid] = build_payer(pid, index, people, visits, pa_orders, counters)

    write_partition(SEED_DIR / "default", "default", default_files)
    for pid in PAYERS:
        write_partition(SEED_DIR / "payer" / pid, pid, payer_files[pid])

    total = sum(len(r) for _, r in default_files) + sum(len(r) for f in payer_files.values() for _, r in f)
    print(f"wrote {total} resources under {SEED_DIR.relative_to(ROOT)}/", file=sys.stderr)


if __name__ == "__main__":
    main()
