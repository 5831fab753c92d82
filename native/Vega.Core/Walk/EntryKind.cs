namespace Vega.Core.Walk;

/// <summary>What an entry is, from lstat: a symbolic link is <see cref="Symlink"/> whatever it points to.</summary>
public enum EntryKind : byte
{
    Unknown = 0,
    File = 1,
    Directory = 2,
    Symlink = 3,
    Fifo = 4,
    Socket = 5,
    CharDevice = 6,
    BlockDevice = 7,
}

internal static class EntryKinds
{
    public static EntryKind FromDType(byte dType) => dType switch
    {
        8 => EntryKind.File,
        4 => EntryKind.Directory,
        10 => EntryKind.Symlink,
        1 => EntryKind.Fifo,
        12 => EntryKind.Socket,
        2 => EntryKind.CharDevice,
        6 => EntryKind.BlockDevice,
        _ => EntryKind.Unknown,
    };

    public static EntryKind FromMode(uint mode) => (mode & 0xF000) switch
    {
        0x8000 => EntryKind.File,
        0x4000 => EntryKind.Directory,
        0xA000 => EntryKind.Symlink,
        0x1000 => EntryKind.Fifo,
        0xC000 => EntryKind.Socket,
        0x2000 => EntryKind.CharDevice,
        0x6000 => EntryKind.BlockDevice,
        _ => EntryKind.Unknown,
    };
}
