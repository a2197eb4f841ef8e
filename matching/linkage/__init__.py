"""Linkage: records -> candidate pairs -> scores -> persons (stable ids) -> households.

One code path serves every run. A run has a focus: the records an extract added or changed (an
incremental run), or every record (a full run). Candidate pairs are the pairs that involve a
focus record and share a blocking token; the persons those pairs touch, with all their records,
form the region that is clustered again. Everything outside the region keeps its person as it
is, so a 10,000-record extract costs its own pairs, not a rerun over a million records.

The only inputs are the keyed values of matching.tokens (computed from the sealed identities by
keys_refresh); nothing in this package sees a name or a number.

The stages, one module each, in the order a run (run.py) takes them:
- keys.py: each record's packed keyed values and search keys, made from its sealed identity;
- population.py: every live record's keys and current person, loaded as arrays;
- the pairs a region compares and their weights: matching.candidates; the model that scores
  them: matching.model;
- clusters.py: scored pairs -> clusters, under the chain guard and reviewers' decisions;
- persons.py: clusters -> persons with stable ids, merges and splits recorded;
- review.py: the pairs a run is unsure of, into the review queue (matching.review);
- households.py: persons living at one dwelling now -> households with stable ids;
- figures.py: what a run did per stage, and which stage it is in.
"""
