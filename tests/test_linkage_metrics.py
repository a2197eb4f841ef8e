"""bench/linkage_metrics.py on tiny hand-made linkages whose figures are worked out by hand."""

import time

import pytest

from bench.linkage_metrics import format_table, ground_truth_load, pairwise_scores


def k(n: str) -> tuple[str, str]:
    return ("health", n)


def test_perfect_linkage_scores_one_everywhere():
    truth = {k("a1"): "A", k("a2"): "A", k("b1"): "B"}
    predicted = {k("a1"): 10, k("a2"): 10, k("b1"): 11}
    s = pairwise_scores(predicted, truth)
    assert (s["precision"], s["recall"], s["f1"]) == (1.0, 1.0, 1.0)
    assert (s["cluster_precision"], s["cluster_recall"], s["exact_cluster_match"]) == (1, 1, 1)
    assert (s["true_pairs"], s["predicted_pairs"], s["true_positive_pairs"]) == (1, 1, 1)


def test_one_wrong_merge_of_two_two_record_people():
    # A = {a1, a2}, B = {b1, b2}, all four put in one cluster.
    # Predicted pairs: C(4,2) = 6, of which a1-a2 and b1-b2 are true: precision 2/6.
    # True pairs: 2, both found: recall 1. F1 = 2 * (1/3) * 1 / (1/3 + 1) = 1/2.
    truth = {k("a1"): "A", k("a2"): "A", k("b1"): "B", k("b2"): "B"}
    predicted = dict.fromkeys(truth, "X")
    s = pairwise_scores(predicted, truth)
    assert s["predicted_pairs"] == 6
    assert s["true_positive_pairs"] == 2
    assert s["precision"] == pytest.approx(1 / 3)
    assert s["recall"] == 1.0
    assert s["f1"] == pytest.approx(0.5)
    # The one predicted cluster is nobody's exact record set; neither person is split.
    assert s["exact_clusters"] == 0
    assert (s["cluster_precision"], s["cluster_recall"], s["cluster_f1"]) == (0, 0, 0)
    assert s["persons_not_split"] == 1.0


def test_split_person_and_record_missing_from_predicted():
    # A = {a1, a2, a3} split into {a1, a2} and {a3}; B = {b1, b2} right; C = {c1} not in
    # predicted at all, so a singleton, which is right for a one-record person.
    truth = {k("a1"): "A", k("a2"): "A", k("a3"): "A", k("b1"): "B", k("b2"): "B", k("c1"): "C"}
    predicted = {k("a1"): 1, k("a2"): 1, k("a3"): 2, k("b1"): 3, k("b2"): 3}
    s = pairwise_scores(predicted, truth)
    # Predicted pairs a1-a2, b1-b2 (both true); true pairs C(3,2) + C(2,2) = 4.
    assert (s["predicted_pairs"], s["true_positive_pairs"], s["true_pairs"]) == (2, 2, 4)
    assert s["precision"] == 1.0
    assert s["recall"] == 0.5
    assert s["f1"] == pytest.approx(2 / 3)
    # Clusters {a1,a2} {a3} {b1,b2} {c1}: B and C reproduced exactly, A not.
    assert s["records_missing_from_predicted"] == 1
    assert s["predicted_clusters"] == 4
    assert s["exact_clusters"] == 2
    assert s["cluster_precision"] == 0.5
    assert s["cluster_recall"] == pytest.approx(2 / 3)
    assert s["exact_cluster_match"] == pytest.approx(2 / 3)
    assert s["cluster_f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert s["persons_not_split"] == pytest.approx(2 / 3)


def test_all_records_missing_are_singletons():
    # Nothing predicted: no predicted pairs (precision 1 by convention: nothing wrongly
    # merged), the one true pair a1-a2 missed, and two singleton clusters, neither exact.
    truth = {k("a1"): "A", k("a2"): "A"}
    s = pairwise_scores({}, truth)
    assert (s["precision"], s["recall"], s["f1"]) == (1.0, 0.0, 0.0)
    assert s["records_missing_from_predicted"] == 2
    assert s["predicted_clusters"] == 2
    assert (s["cluster_precision"], s["cluster_recall"]) == (0.0, 0.0)


def test_merge_and_split_together():
    # A = {a1, a2, a3}, B = {b1}; predicted {a1, a2, b1} and {a3}.
    # Predicted pairs: 3 (a1-a2 true, a1-b1 and a2-b1 false); true pairs: 3 (one found).
    truth = {k("a1"): "A", k("a2"): "A", k("a3"): "A", k("b1"): "B"}
    predicted = {k("a1"): "X", k("a2"): "X", k("b1"): "X", k("a3"): "Y"}
    s = pairwise_scores(predicted, truth)
    assert s["precision"] == pytest.approx(1 / 3)
    assert s["recall"] == pytest.approx(1 / 3)
    assert s["f1"] == pytest.approx(1 / 3)
    assert s["exact_clusters"] == 0
    assert s["persons_not_split"] == 0.5  # B is whole (inside X); A is split


def test_missing_record_does_not_join_a_cluster_whose_id_equals_its_key():
    # A linker that names clusters after a member record: y's cluster id is x's key. x is
    # missing from predicted, so it is a singleton of its own, not a member of y's cluster.
    x, y = k("1"), k("2")
    s = pairwise_scores({y: x}, {x: "P1", y: "P2"})
    assert s["predicted_pairs"] == 0
    assert s["exact_clusters"] == 2


def test_predicted_records_outside_truth_are_ignored_and_counted():
    truth = {k("a1"): "A", k("a2"): "A"}
    predicted = {k("a1"): 1, k("a2"): 1, k("zz"): 1}
    s = pairwise_scores(predicted, truth)
    assert s["records_not_in_truth"] == 1
    assert (s["predicted_pairs"], s["precision"], s["cluster_precision"]) == (1, 1.0, 1.0)


def test_large_input_is_counted_not_enumerated():
    # 200,000 records in 4,000 people of 50: 4,000 * C(50,2) = 4.9M true pairs. Predicted
    # merges each two neighbouring people, so each cluster of 100 has C(100,2) = 4,950 pairs.
    truth = {("health", str(i)): f"P{i // 50}" for i in range(200_000)}
    predicted = {key: int(key[1]) // 100 for key in truth}
    start = time.perf_counter()
    s = pairwise_scores(predicted, truth)
    assert time.perf_counter() - start < 5
    assert s["true_pairs"] == 4_000 * 1_225
    assert s["predicted_pairs"] == 2_000 * 4_950
    assert s["precision"] == pytest.approx(4_000 * 1_225 / (2_000 * 4_950))
    assert s["recall"] == 1.0


def test_ground_truth_load(tmp_path):
    (tmp_path / "ground_truth.csv").write_text(
        "agency,dataset,source_record_id,person_id,household_id\n"
        "health,attendances,ATT1,P000001,H1\n"
        "police,incidents,PR1,P000001,H1\n"
        "housing,tenancies,HR1,P000002,H2\n"
    )
    assert ground_truth_load(tmp_path) == {
        ("health", "ATT1"): "P000001",
        ("police", "PR1"): "P000001",
        ("housing", "HR1"): "P000002",
    }


def test_format_table():
    rows = [
        {"linker": "splink", "records": 76841, "precision": 0.98765, "note": "a|b"},
        {"linker": "sharehub", "records": 76841, "precision": 1.0},
    ]
    assert format_table(rows) == (
        "| linker | records | precision | note |\n"
        "| --- | --- | --- | --- |\n"
        "| splink | 76,841 | 0.9877 | a\\|b |\n"
        "| sharehub | 76,841 | 1.0000 |  |"
    )
    assert format_table(rows, ["linker"]) == "| linker |\n| --- |\n| splink |\n| sharehub |"
    assert format_table([]) == ""
