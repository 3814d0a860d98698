"""Every number quoted from the paper, typed once, with its citation.

Katakis et al. 2023, *Generation of Musculoskeletal Ultrasound Images with Diffusion
Models*, BioMedInformatics 3:405-421 (CC BY 4.0); summary in ``../shared/paper.md``.
These are reference constants for comparison, **not** results of this kit. Other
modules derive what they need from :data:`PAPER` (e.g. :data:`PAPER_TABLE4` means).
"""
from __future__ import annotations

from typing import Any

DOI = "10.3390/biomedinformatics3020027"
#: short source line used under tables and in notebooks
PAPER_SOURCE = ("Katakis S. et al., Generation of Musculoskeletal Ultrasound Images with Diffusion "
                f"Models, BioMedInformatics 2023, 3, 405-421, doi:{DOI}")
CITATION = ("Katakis S., Barotsis N., Kakotaritis A., Tsiganos P., Economou G., Panagiotopoulos E., "
            "Panayiotakis G. Generation of Musculoskeletal Ultrasound Images with Diffusion Models. "
            "BioMedInformatics 2023, 3, 405-421. doi:10.3390/biomedinformatics3020027 (CC BY 4.0)")

#: The paper's reported figures (reference constants typed from the paper; NOT our results).
PAPER: dict[str, Any] = {
    "citation": CITATION,
    "setup": {"data": "1223 private B-mode images, 4 muscles, 116 volunteers (GE Logiq P9)",
              "image_size": 256, "ddpm_epochs": 300, "timesteps": 300, "batch_size": 4,
              "segmentation_epochs": 300, "split": "40/20/40 % train/val/test per muscle",
              "n_images_evaluated": "100 real vs 100 synthetic per muscle"},
    "table2": {  # generated vs real, per muscle
        "caption": "Table 2. Qualitative metrics between the generated and real images for each muscle.",
        "columns": ("psnr", "ssim", "lpips", "fid"), "decimals": 3,
        "rows": {"T.A.": {"psnr": 61.928, "ssim": 0.996, "lpips": 0.006, "fid": 3.395},
                 "R.F.": {"psnr": 61.486, "ssim": 0.994, "lpips": 0.005, "fid": 1.958},
                 "GCM": {"psnr": 60.544, "ssim": 0.992, "lpips": 0.005, "fid": 2.681},
                 "B.B.": {"psnr": 60.462, "ssim": 0.993, "lpips": 0.008, "fid": 3.819}},
    },
    "table3": {
        "caption": "Table 3. Results of the inter-patient SSIM and synthetic SSIM.",
        "columns": ("inter_patient_ssim", "synthetic_ssim"), "decimals": 3,
        "rows": {"T.A.": {"inter_patient_ssim": 0.995, "synthetic_ssim": 0.995},
                 "R.F.": {"inter_patient_ssim": 0.996, "synthetic_ssim": 0.994},
                 "GCM": {"inter_patient_ssim": 0.996, "synthetic_ssim": 0.992},
                 "B.B.": {"inter_patient_ssim": 0.995, "synthetic_ssim": 0.992}},
    },
    "intensity": {  # section 3.1 text
        "caption": "Section 3.1: mean skewness and entropy of pixel-intensity histograms (100 real / 100 synthetic).",
        "skewness": {"T.A.": {"real": 0.95, "synthetic": 1.31}, "R.F.": {"real": 1.32, "synthetic": 1.67}},
        "entropy_range": {"real": (10.64, 10.92), "synthetic": (10.83, 11.03)},
    },
    "table4": {  # mean +- std over the real test split
        "caption": "Table 4. Overall segmentation results for each experiment (mean ± std).",
        "columns": ("precision", "recall", "dice", "iou"), "decimals": 2,
        "rows": {"Real": {"precision": (0.85, 0.10), "recall": (0.87, 0.10), "dice": (0.85, 0.07), "iou": (0.75, 0.10)},
                 "Gen": {"precision": (0.78, 0.14), "recall": (0.85, 0.12), "dice": (0.80, 0.10), "iou": (0.68, 0.13)},
                 "Real+Gen": {"precision": (0.84, 0.10), "recall": (0.88, 0.09), "dice": (0.86, 0.08),
                              "iou": (0.76, 0.10)}},
    },
    "table5": {
        "caption": "Table 5. Manual vs automatic muscle thickness (mm, mean ± std).",
        "columns": ("manual", "automatic", "rmse"), "decimals": 2,
        "rows": {"Real": {"manual": (24.50, 6.49), "automatic": (24.51, 6.45), "rmse": (0.35, 1.52)},
                 "Gen": {"manual": (24.50, 6.49), "automatic": (24.56, 6.98), "rmse": (1.05, 3.38)},
                 "Real+Gen": {"manual": (24.50, 6.49), "automatic": (24.44, 6.51), "rmse": (0.38, 1.33)}},
    },
    "table6": {
        "caption": "Table 6. Attention-UNet trained on fractions of the data, same validation set (DSC / IoU).",
        "columns": ("dice", "iou"), "decimals": 3,
        "rows": {"50%": {"dice": 0.842, "iou": 0.735}, "50%+Gen": {"dice": 0.847, "iou": 0.743},
                 "30%": {"dice": 0.834, "iou": 0.724}, "30%+Gen": {"dice": 0.842, "iou": 0.735},
                 "10%": {"dice": 0.800, "iou": 0.680}, "10%+Gen": {"dice": 0.823, "iou": 0.710}},
    },
}


#: the paper's segmentation experiments (Tables 4 and 6), in its order
PAPER_EXPERIMENTS = ("Real", "Gen", "Real+Gen", "50%", "50%+Gen", "30%", "30%+Gen", "10%", "10%+Gen")
#: Table 4 means {experiment: {precision, recall, dice, iou}}
PAPER_TABLE4: dict[str, dict[str, float]] = {
    name: {k: v[0] for k, v in row.items()} for name, row in PAPER["table4"]["rows"].items()}
#: Table 6 {experiment: {dice, iou}}
PAPER_TABLE6: dict[str, dict[str, float]] = {name: dict(row) for name, row in PAPER["table6"]["rows"].items()}
#: Table 5: MT RMSE vs manual measurement (mm), mean over 4 muscles
PAPER_TABLE5_RMSE_MM: dict[str, float] = {name: row["rmse"][0] for name, row in PAPER["table5"]["rows"].items()}
#: manual MT, mean and std (mm)
PAPER_MANUAL_MT_MM: tuple[float, float] = PAPER["table5"]["rows"]["Real"]["manual"]
