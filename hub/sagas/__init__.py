"""Sagas: lab workflows that span modules and survive crashes. (Filled in by the sagas module.)"""
