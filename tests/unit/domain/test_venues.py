from domain.venues import PAPER_VENUE, venue_key


def test_the_environment_is_part_of_the_key() -> None:
    keys = {
        venue_key("binance"),
        venue_key("binance", sandbox=True),
        venue_key("binance", base_url="https://testnet.example.com/"),
        venue_key(PAPER_VENUE),
    }
    assert keys == {
        "binance@live",
        "binance@sandbox",
        "binance@https://testnet.example.com",
        "paper",
    }


def test_a_base_url_wins_over_the_sandbox_flag() -> None:
    assert venue_key("binance", sandbox=True, base_url="http://127.0.0.1:9") == (
        "binance@http://127.0.0.1:9"
    )
