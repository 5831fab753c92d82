// stackalloc'd scratch is always written before it is read: skip zeroing it (hot in glob matching).
[module: System.Runtime.CompilerServices.SkipLocalsInit]
