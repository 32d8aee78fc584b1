"""E-mail notices: the handover alert, the shopper's "an agent joined", and semi-automate's
"decide whether to hand over" with signed, single-use links. All go through the outbox."""
