"""Households: persons who live at the same dwelling now, with stable household ids."""

import time
from collections import defaultdict

import numpy as np
from django.db import transaction

from matching.linkage.figures import Figures
from matching.linkage.population import Population
from matching.models import Household, LinkageRun, Person, PersonEvent


def households_refresh(population: Population, run: LinkageRun, figures: Figures) -> None:
    """Group persons who live at the same dwelling now, keeping household ids stable.

    A person's current dwelling is the house number with the full postcode (or, without a
    postcode, with the street) of their most recent record that has one. Records without a house
    number (a health extract holds only the postcode) leave the person out of households rather
    than guess among neighbours.
    """
    started = time.perf_counter()
    # The house number with the postcode where there is one, else with the street: an extract
    # with no postcodes still places people in homes.
    address = np.where(
        population.keys["address_key"] != 0,
        population.keys["address_key"],
        population.keys["dwelling"],
    )
    has_address = (address != 0) & (population.person_ids != 0)
    positions = np.flatnonzero(has_address)
    # Latest record per person: sort by person then event day then record id, take the last.
    order = positions[
        np.lexsort(
            (
                population.record_ids[positions],
                population.event_days[positions],
                population.person_ids[positions],
            )
        )
    ]
    persons = population.person_ids[order]
    last = np.r_[persons[1:] != persons[:-1], True] if len(order) else np.zeros(0, dtype=bool)
    current_person = persons[last]
    current_address = address[order][last]
    groups: dict[int, list[int]] = defaultdict(list)
    for person, dwelling in zip(current_person.tolist(), current_address.tolist(), strict=True):
        groups[dwelling].append(person)

    old_household = dict(
        Person.objects.filter(is_active=True, household__isnull=False).values_list(
            "pk", "household_id"
        )
    )
    # Biggest groups choose first; a group keeps the household most of its members had.
    claimed: set[int] = set()
    assignment: dict[int, int] = {}
    new_groups: list[list[int]] = []
    for members in sorted(groups.values(), key=len, reverse=True):
        votes: dict[int, int] = defaultdict(int)
        for person in members:
            if person in old_household:
                votes[old_household[person]] += 1
        choice = None
        for household, _ in sorted(votes.items(), key=lambda item: (-item[1], item[0])):
            if household not in claimed:
                choice = household
                break
        if choice is None:
            new_groups.append(members)
            continue
        claimed.add(choice)
        for person in members:
            assignment[person] = choice
    with transaction.atomic():
        created = Household.objects.bulk_create([Household() for _ in new_groups], batch_size=5_000)
        for members, new_household in zip(new_groups, created, strict=True):
            claimed.add(new_household.pk)
            for person in members:
                assignment[person] = new_household.pk
        changed = [
            (person, household_id)
            for person, household_id in assignment.items()
            if old_household.get(person) != household_id
        ]
        left = [person for person in old_household if person not in assignment]
        by_household: dict[int, list[int]] = defaultdict(list)
        for person, household_id in changed:
            by_household[household_id].append(person)
        for household_id, members in by_household.items():
            Person.objects.filter(pk__in=members).update(household_id=household_id)
        if left:
            Person.objects.filter(pk__in=left).update(household=None)
        PersonEvent.objects.bulk_create(
            [
                PersonEvent(person_id=person, kind=PersonEvent.Kind.HOUSEHOLD, run=run)
                for person, _ in changed
            ]
            + [
                PersonEvent(person_id=person, kind=PersonEvent.Kind.HOUSEHOLD, run=run)
                for person in left
            ],
            batch_size=5_000,
        )
        Household.objects.filter(is_active=True).exclude(pk__in=claimed).update(is_active=False)
    figures["households"] = len(groups)
    figures["household_changes"] = len(changed) + len(left)
    figures.time("households_inner", started)
