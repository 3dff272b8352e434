"""preferred_chain: the first chain whose topmost issuer CN matches, else the CA's default."""

from __future__ import annotations

from shared.chains import choose_chain, order_chains, top_issuer_common_name


def test_the_first_matching_chain_wins() -> None:
    assert choose_chain(["Root A", "Root B", "Root B"], "Root B") == 1


def test_no_preference_or_no_match_keeps_the_default() -> None:
    assert choose_chain(["Root A", "Root B"], None) == 0
    assert choose_chain(["Root A", "Root B"], "Root C") == 0
    assert choose_chain([None, "Root B"], "root b") == 0  # exact, as certbot and lego compare


def test_unreadable_chains_have_no_issuer_and_keep_their_place() -> None:
    assert top_issuer_common_name("not a pem") is None
    assert order_chains(["default", "other"], "Root B") == ("default", ["other"])
