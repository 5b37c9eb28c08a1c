"""The fixture repositories under fixtures/ hold test files of their own: never collect them."""

collect_ignore_glob = ["fixtures/*"]
