"""How cf talks SSH: who it is and whom it trusts (``identity``), logging in the way
``ssh`` would (``login``), one connection per host with a channel per command
(``pool``), native ``ssh -t`` for terminals of the CLI (``raw``), PTYs for the web
console (``terminal``), ``cf ssh``'s host trust and key setup (``trust``), the
host-side edits of ``authorized_keys`` (``authkeys``), and asyncssh imported
quickly (``lib``)."""
