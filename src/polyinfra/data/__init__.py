"""Clients of Gamma (:mod:`polyinfra.data.gamma`) and the Data API (:mod:`polyinfra.data.data_api`)."""
