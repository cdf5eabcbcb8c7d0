"""The strength trade-off's settings (its curves are checked on SmolLM2 in test_bench_hazard.py)."""

from __future__ import annotations

from eco_unlearn.evaluation.bench.tradeoff import SIGMAS, family_points


def test_a_noise_family_walks_sigma_and_includes_the_served_point():
    points = family_points("rand_noise_first_n", 576, dims=1, served=[498.8, 10.0])
    assert [p["strength"] for p in points] == sorted({*SIGMAS, 498.8})  # a served σ already on the grid is not repeated
    assert all(p["dims"] == 1 and p["name"] == "rand_noise_first_n" for p in points)


def test_a_top_k_family_walks_k_up_to_every_dim_and_a_free_family_has_one_point():
    assert [p["dims"] for p in family_points("zero_out_top_k", 576)] == [9, 36, 144, 576]
    assert [p["dims"] for p in family_points("zero_out_top_k", 576, served=[72])] == [9, 36, 72, 144, 576]
    assert [p["dims"] for p in family_points("flip_sign_first_n", 64)] == [1, 4, 16, 64]
    assert family_points("reverse", 576) == [{"name": "reverse"}]
