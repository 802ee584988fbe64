"""Sample data: the generator of the synthetic Lijiang sample park (installed as ``landplan.data``)."""
