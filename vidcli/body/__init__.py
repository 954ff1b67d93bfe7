"""Human bodies: the Anny model, the shared skeletons and BVH retargeting."""
