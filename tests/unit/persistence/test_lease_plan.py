"""How a process sizes its share of the users (persistence.leases.plan), and its lease book."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from persistence.lease_book import LeaseBook, Plan, fair_share, plan


def test_a_lone_process_takes_every_user() -> None:
    assert plan(held=0, users=10, processes=1) == Plan(claim=10)


def test_a_new_process_makes_the_full_one_shed_down_to_its_share() -> None:
    assert plan(held=10, users=10, processes=2) == Plan(shed=5)
    assert plan(held=0, users=10, processes=2) == Plan(claim=5)


def test_more_than_the_share_is_shed_so_a_third_process_gets_users_too() -> None:
    assert plan(held=5, users=10, processes=3) == Plan(shed=1)  # share 4
    assert plan(held=6, users=10, processes=3) == Plan(shed=2)
    # 3 + 3 of 6 when a third process joins: both shed one, and it claims the two
    assert plan(held=3, users=6, processes=3) == Plan(shed=1)
    assert plan(held=0, users=6, processes=3) == Plan(claim=2)
    assert plan(held=4, users=10, processes=3) == Plan()


@given(
    users=st.integers(0, 5000),
    processes=st.integers(1, 50),
    held=st.integers(0, 5000),
)
def test_after_its_plan_a_process_holds_at_most_its_share(
    users: int, processes: int, held: int
) -> None:
    step = plan(held, users, processes)
    assert not (step.claim and step.shed)
    after = held + step.claim - step.shed
    assert after <= fair_share(users, processes)
    if step.claim:  # claims fill up to the share, no further
        assert after == fair_share(users, processes)
    # Shares cover every user.
    assert fair_share(users, processes) * processes >= users


def test_the_book_forgets_dropped_users_and_expires_by_its_clock() -> None:
    now = [100.0]
    book = LeaseBook("p", clock=lambda: now[0])
    book.hold({1: 3, 2: 7}, until=110.0)
    assert book.valid(1) and book.token(2) == 7
    now[0] = 111.0
    assert not book.valid(1)  # past the local deadline: no longer surely held
    book.extend([1], until=130.0)
    assert book.valid(1) and not book.valid(2)
    book.drop([1])
    assert book.token(1) is None and not book.valid(1)
    assert "p" in repr(book) and "7" not in repr(book)
