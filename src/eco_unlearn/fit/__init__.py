"""Learning the corruption offline: objectives against a surrogate and the zeroth-order search over σ."""
