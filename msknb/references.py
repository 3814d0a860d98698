"""Numbers quoted from sources other than the paper (which lives in :mod:`msknb.paper`),
typed once, each with its citation. Reference constants for comparison, NOT results of this kit.

The human reference for muscle thickness (MT): how far two readings of the same muscle
must differ before the difference is more than measurement error (the minimal detectable
change at 95 % confidence, MDC95 = 1.96 x sqrt(2) x SEM). A segmenter whose MT differs
from the experts' by less than the inter-rater MDC95 disagrees with them less than two
trained humans do with each other.
"""
from __future__ import annotations

from typing import Any

#: Takahashi et al. 2021: rectus femoris MT by B-mode ultrasound, 12 healthy young men,
#: two trained physical therapists; abstract: "The MDC95 values of rectus femoris thickness
#: for the intra- and inter-rater reliabilities were 2.0 mm and 4.3 mm, respectively"
#: (ICC(1,1) 0.95 intra-rater, ICC(2,1) 0.70 inter-rater). Open access.
RF_MT_MDC95_TAKAHASHI_2021: dict[str, Any] = {
    "muscle": "rectus femoris", "quantity": "muscle thickness, MDC95 (mm)",
    "inter_rater_mm": 4.3, "intra_rater_mm": 2.0, "icc_intra": 0.95, "icc_inter": 0.70, "n_subjects": 12,
    "citation": ("Takahashi Y., Fujino Y., Miura K., Toida A., Matsuda T., Makita S. Intra- and inter-rater "
                 "reliability of rectus femoris muscle thickness measured using ultrasonography in healthy "
                 "individuals. The Ultrasound Journal 2021, 13. doi:10.1186/s13089-021-00224-8"),
    "doi": "10.1186/s13089-021-00224-8",
}

#: Stausholm et al. 2024: rectus femoris MT, 106 healthy adults (18-73 years), mean MT 21.2 mm;
#: 95 % minimal detectable difference (single measurements) 0.74-0.82 mm intra-rater,
#: 2.69-2.70 mm inter-rater, 2.86-2.91 mm inter-day (abstract). A second, larger study
#: for context: the human reference depends on protocol and raters.
RF_MT_MDD95_STAUSHOLM_2024: dict[str, Any] = {
    "muscle": "rectus femoris", "quantity": "muscle thickness, 95 % minimal detectable difference (mm)",
    "inter_rater_mm": (2.69, 2.70), "intra_rater_mm": (0.74, 0.82), "inter_day_mm": (2.86, 2.91),
    "mean_mt_mm": 21.2, "n_subjects": 106,
    "citation": ("Stausholm M.B. et al. Reliability of ultrasound assessment of the rectus femoris muscle "
                 "thickness: intra-rater, inter-rater, and inter-day analysis accounting for age and sex. "
                 "BMC Musculoskeletal Disorders 2024. doi:10.1186/s12891-024-08033-5"),
    "doi": "10.1186/s12891-024-08033-5",
}

#: the human reference notebook 06 draws (mm): inter- and intra-rater MDC95, Takahashi et al. 2021
HUMAN_MT_MDC95_MM: dict[str, float] = {"inter_rater": RF_MT_MDC95_TAKAHASHI_2021["inter_rater_mm"],
                                       "intra_rater": RF_MT_MDC95_TAKAHASHI_2021["intra_rater_mm"]}
HUMAN_MT_SOURCE: str = RF_MT_MDC95_TAKAHASHI_2021["citation"]

#: DL_Track_US (Ritsche et al. 2023): 4.6 s per image on CPU, as issue 14 quotes it (source not verified here)
DLTRACK_SECONDS_PER_IMAGE_CPU: float = 4.6
