"""Human bodies: the Anny model, the shared skeletons and BVH retargeting.

The names below are kept here, free of heavy imports, for checking settings at plan time.
"""

BODY_MODELS = ("anny", "smpl", "smplx")
GENDERS = ("neutral", "female", "male")
