"""Device drivers, one subpackage per family: I/O and decoding only."""

from drivers.base import (
    BadFrameError,
    DeviceExceptionError,
    Driver,
    DriverConfigError,
    DriverError,
    DriverState,
    DriverStatus,
    DriverTimeoutError,
    DriverUnavailableError,
    Reading,
    UnencodableValueError,
)

__all__ = [
    "BadFrameError",
    "DeviceExceptionError",
    "Driver",
    "DriverConfigError",
    "DriverError",
    "DriverState",
    "DriverStatus",
    "DriverTimeoutError",
    "DriverUnavailableError",
    "Reading",
    "UnencodableValueError",
]
