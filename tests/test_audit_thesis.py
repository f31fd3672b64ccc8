"""The arithmetic behind notebook 10 (audit of the thesis's numbers)."""

from __future__ import annotations

import pytest

from jewelnet_utils.tools import audit_thesis as a


def test_fractions_and_denominators():
    assert a.fractions_matching(0.9378, 241) == [226]
    assert a.fractions_matching(0.9378, 185) == []
    assert a.fractions_matching(1.0, 23) == [23]
    assert a.fractions_matching(0.0, 23) == [0]
    assert a.fractions_matching(0.5, 0) == []
    assert a.denominators_matching(0.9565, range(10, 41)) == [23]
    assert a.rounds_to(0.93775, 0.9378, 4)  # a tie counts as a match
    assert not a.rounds_to(0.9377, 0.9379, 4)


def test_f1_and_split_helpers():
    assert a.f1_from(1.0, 0.7826) == pytest.approx(0.8780, abs=5e-5)
    assert a.f1_from(0.0, 0.0) == 0.0
    assert a.balanced_split_sizes() == {"train": 1120, "val": 240, "test": 240}


def test_transcription_is_complete():
    for table in (a.TABLE_5_2, a.TABLE_5_3):
        assert sorted(table) == sorted(a.CLASS_ORDER)
    assert sorted(a.TABLE_4_1) == sorted(a.CLASS_ORDER)
    assert set(a.TABLE_5_1) == set(a.TABLE_6_2_PARAMS)


def test_table_4_1_adds_up_but_augmented_is_not_ten_times_train():
    assert all(r["verdict"] == a.OK for r in a.check_table_4_1_sums())
    assert all(r["verdict"] == a.OK for r in a.check_split_ratios())
    aug = {r["row"]: r for r in a.check_augmented_counts()}
    assert aug["Bangle"]["verdict"] == a.OK
    assert aug["Necklace"]["difference"] == 4
    assert aug["Total"]["difference"] == 8519 - 8510


def test_macro_averages():
    cnn = {r["metric"]: r for r in a.check_macro_averages(
        a.TABLE_5_2, a.TABLE_5_2_MACRO, a.TABLE_5_1["Custom CNN"])}
    assert all(r["verdict"] == a.OK for r in cnn.values())
    eff = {r["metric"]: r for r in a.check_macro_averages(
        a.TABLE_5_3, a.TABLE_5_3_MACRO, a.TABLE_5_1["EfficientNetB2"])}
    assert eff["recall"]["verdict"] == a.OK
    assert eff["precision"]["verdict"] == a.BAD  # mean of the rows is 0.9573, not 0.9533
    assert eff["precision"]["mean of per-class rows"] == pytest.approx(0.9573, abs=5e-5)
    assert eff["fpr"]["verdict"] == a.BAD  # Table 5.1 says 0.0075, the macro row 0.0068


def test_one_vs_rest_identity():
    (row,) = a.check_ovr_accuracy(a.TABLE_5_2, a.TABLE_5_1["Custom CNN"]["accuracy"])
    assert row["verdict"] == a.OK
    (bad,) = a.check_ovr_accuracy(a.TABLE_5_2, 0.90)
    assert bad["verdict"] == a.BAD


def test_rate_identities_hold_row_by_row():
    for table in (a.TABLE_5_2, a.TABLE_5_3):
        assert all(r["verdict"] == a.OK for r in a.check_rate_identities(table))
    broken = {"X": dict(precision=0.9, recall=0.9, f1=0.5, fnr=0.1)}
    assert a.check_rate_identities(broken)[0]["verdict"] == a.BAD


def test_accuracies_against_test_sizes():
    acc = {name: row["accuracy"] for name, row in a.TABLE_5_1.items()}
    rows = {r["model"]: r for r in a.check_accuracy_denominators(acc, [185, 240])}
    # The verdict names the sizes that were tried, never "every N".
    assert all(r["verdict"] == "impossible for each N searched (185 and 240)"
               for r in rows.values())
    rows = {r["model"]: r for r in a.check_accuracy_denominators(acc, [241])}
    assert rows["Custom CNN"]["k/N for N=241"] == "226/241"
    assert rows["Custom CNN"]["verdict"] == "possible for each N searched (241)"
    assert rows["EfficientNetB2"]["verdict"] == "impossible for each N searched (241)"
    mixed = a.check_accuracy_denominators({"VGG16": acc["VGG16"]}, [185, 241])
    assert mixed[0]["verdict"] == "possible for N = 241 only"
    assert a.summary(a.check_accuracy_denominators(acc, [241])) == "3 of 4 rows consistent"
    # Table 5.2's per-class accuracies all fit one test size between 100 and 400: 241.
    values = [r["accuracy"] for r in a.TABLE_5_2.values()]
    assert a.fitting_test_sizes(values, range(100, 401)) == [241]


def test_models_were_not_scored_on_one_test_set():
    acc = {name: row["accuracy"] for name, row in a.TABLE_5_1.items()}
    rows = {r["model"]: r for r in a.check_shared_test_size(acc, range(100, 401))}
    # 95.21 % is 179/188, and no k/241 prints as 95.21 %.
    assert rows["EfficientNetB2"]["smallest N"] == 146
    assert "188" in rows["EfficientNetB2"]["test sizes N in 100-400 that fit"].split(", ")
    assert "241" not in rows["EfficientNetB2"]["test sizes N in 100-400 that fit"].split(", ")
    assert rows["all models at once"]["verdict"] == "no shared test set of 100-400 images"
    # The three other models alone do share one: 241.
    three = {k: v for k, v in acc.items() if k != "EfficientNetB2"}
    shared = a.check_shared_test_size(three, range(100, 401))[-1]
    assert shared["test sizes N in 100-400 that fit"] == "241"
    assert shared["verdict"] == a.OK


def test_error_counts_follow_recall_and_precision():
    # recall 18/23 with precision 1: five misses, no false alarm, and nothing else fits
    # below 40 images.
    assert a.error_counts(0.7826, 1.0, 40) == {(23, 5, 0)}
    # recall 1 with precision 22/23: no miss, one false alarm (44/46 needs 44 images).
    assert a.error_counts(1.0, 0.9565, 40) == {(22, 0, 1)}
    assert (44, 0, 2) in a.error_counts(1.0, 0.9565, 50)


def test_table_5_3_misses_and_false_alarms_do_not_balance():
    rows = {r["class"]: r for r in a.check_error_balance(a.TABLE_5_3)}
    assert rows["Total"]["false negatives"] == "9"
    assert rows["Total"]["false positives"] == "8"
    assert rows["Total"]["verdict"] == a.BAD
    assert rows["Nose Pin"]["false positives"] == "3"
    # Table 5.2 leaves room for the totals to meet.
    assert a.check_error_balance(a.TABLE_5_2)[-1]["verdict"] == a.OK
    # A table whose counts do balance passes: two classes that swap one image each.
    swapped = {"A": dict(recall=0.9, precision=0.9), "B": dict(recall=0.9, precision=0.9)}
    assert a.check_error_balance(swapped, max_class_size=10)[-1]["verdict"] == a.OK


def test_augmented_column_is_seven_times_each_whole_class():
    rows = {r["row"]: r for r in a.check_augmented_factor()}
    assert all(r["verdict"] == a.OK for r in rows.values())
    assert rows["Total"]["augmented / class"] == 7.0
    assert rows["Necklace"]["= 10 x train"] is False
    assert a.summary(a.check_augmented_factor(whole_factor=10)) == "0 of 9 rows consistent"


def test_supports():
    test_col = {name: row[3] for name, row in a.TABLE_4_1.items()}
    rows = {r["class"]: r for r in a.check_supports(a.TABLE_5_3, test_col, range(10, 41),
                                                     "Table 4.1 test")}
    assert rows["Bangle"]["verdict"] == a.BAD  # recall 0.9565 = 22/23, but 21 bangles
    assert rows["Nose Pin"]["verdict"] == a.OK
    assert rows["Necklace"]["class sizes that fit"] == "any"


def test_custom_cnn_size():
    assert a.conv_pool_sides(224, 4) == [111, 54, 26, 12]
    assert all(r["verdict"] == a.OK for r in a.check_table_4_3_shapes()[:1])
    counts = a.custom_cnn_param_count(224)
    assert counts["total"] == 19_398_600
    assert counts["conv"] == 896 + 18_496 + 73_856 + 295_168
    rows = a.check_custom_cnn_size(built=5_100_000)
    assert rows[0]["verdict"] == a.BAD
    assert rows[-1]["verdict"] == a.OK
    assert a.summary(rows) == "1 of 4 rows consistent"


def test_table_6_1_ranks_results_on_different_problems():
    from jewelnet_utils.contracts import thesis

    assert len(thesis.TABLE_6_1) == 10
    assert thesis.TABLE_6_1[4].accuracy == "94.01%" and thesis.TABLE_6_1[4].line == 1564
    rows = a.check_prior_work_comparability()
    assert [r["verdict"] for r in rows[:-1]] == ["not comparable"] * 7
    assert rows[-1]["verdict"] == "0 of 7 earlier studies comparable"
    # A study on the thesis's own task and data would count.
    same = thesis.Study("Someone (2026)", "8-class fine-grained", "1,217 images", "CNN", "90%",
                        line=0)
    rows = a.check_prior_work_comparability([*thesis.TABLE_6_1, same])
    assert rows[-1]["verdict"] == "1 of 8 earlier studies comparable"
