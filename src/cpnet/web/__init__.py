"""The web dashboard's files (static/: HTML, JS, CSS and vendored chart and API-doc libraries), served by `cpnet serve` at / and /ui/."""
