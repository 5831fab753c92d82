using System.Runtime.InteropServices;
using Vega.Core.Interop;
using Vega.Core.Patterns;

namespace Vega.Core.Walk;

/// <summary>
/// The ignore rules in force in one directory of a walk with gitignore on: chains of per-directory rule
/// files, innermost first, as fd and ripgrep apply them. Immutable, so a directory's state is shared by
/// all its children without copying.
/// </summary>
/// <remarks>
/// Precedence, highest first: .ignore files (deeper before shallower), .gitignore files (deeper before
/// shallower, only inside a git repository), then the repository's .git/info/exclude. Within a file the
/// last matching rule wins. A directory with a .git entry starts a new repository: the .gitignore files
/// above it stop applying. The user's global excludes file (core.excludesFile) is not read.
/// A chain leaves out the files that can no longer decide anything (see <see cref="Relevant"/>), so that on
/// a deep tree with an ignore file in many directories an entry is not matched against all of them.
/// </remarks>
internal sealed class IgnoreFiles
{
    private sealed class Frame(IgnoreRules rules, byte[] prefix, int baseLength, int depth, Frame? parent)
    {
        public readonly IgnoreRules Rules = rules;
        /// <summary>For a frame above the root: the root's path relative to it (ending '/'), put before paths.</summary>
        public readonly byte[] Prefix = prefix;
        /// <summary>For a frame inside the walk: the length of its directory's path relative to the root ("" or
        /// ending '/'), cut from paths.</summary>
        public readonly int BaseLength = baseLength;
        /// <summary>The depth of its directory: 0 for the root, negative above it.</summary>
        public readonly int Depth = depth;
        public readonly Frame? Parent = parent;
    }

    private const int MaxFileSize = 16 * 1024 * 1024;

    private readonly Frame? _dotIgnore;
    private readonly Frame? _gitignore;
    private readonly Frame? _exclude;
    private readonly bool _inRepository;

    private IgnoreFiles(Frame? dotIgnore, Frame? gitignore, Frame? exclude, bool inRepository)
    {
        _dotIgnore = dotIgnore;
        _gitignore = gitignore;
        _exclude = exclude;
        _inRepository = inRepository;
    }

    /// <summary>The state at the walk root, before its own files are read: the rules of the directories above it.</summary>
    public static unsafe IgnoreFiles ForRoot(byte[] rootZ)
    {
        byte* real;
        fixed (byte* p = rootZ) real = Libc.RealPath(p, null);
        if (real == null) return new IgnoreFiles(null, null, null, false);
        byte[] root = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(real).ToArray();
        Libc.Free(real);

        // Directories above the root, outermost first: "/", "/home", "/home/me" for root "/home/me/repo".
        var ancestors = new List<byte[]>();
        for (int slash = root.AsSpan().LastIndexOf((byte)'/'); slash >= 0 && root.Length > 1; slash = root.AsSpan(0, slash).LastIndexOf((byte)'/'))
        {
            ancestors.Insert(0, slash == 0 ? "/"u8.ToArray() : root[..slash]);
            if (slash == 0) break;
        }
        int repository = ancestors.FindLastIndex(a => Exists(Join(a, ".git"u8)));
        Frame? dotIgnore = null, gitignore = null, exclude = null;
        for (int i = 0; i < ancestors.Count; i++)
        {
            byte[] dir = ancestors[i];
            int cut = dir.Length == 1 ? 1 : dir.Length + 1;
            byte[] below = [.. root.AsSpan(cut), (byte)'/']; // the root relative to this ancestor
            int depth = i - ancestors.Count;
            if (Load(Join(dir, ".ignore"u8), follow: false) is { } dot) dotIgnore = new Frame(dot, below, 0, depth, dotIgnore);
            if (repository < 0 || i < repository) continue;
            if (i == repository && Load(Join(dir, ".git/info/exclude"u8), follow: true) is { } info) exclude = new Frame(info, below, 0, depth, null);
            if (Load(Join(dir, ".gitignore"u8), follow: false) is { } git) gitignore = new Frame(git, below, 0, depth, gitignore);
        }
        return new IgnoreFiles(dotIgnore, gitignore, exclude, repository >= 0);
    }

    /// <summary>The state inside a directory (open as <paramref name="fd"/>, at <paramref name="relative"/> from
    /// the root, "" or ending '/', <paramref name="depth"/> levels below it): this state plus the directory's
    /// own ignore files.</summary>
    public unsafe IgnoreFiles Enter(int fd, ReadOnlySpan<byte> relative, int depth)
    {
        Frame? gitignore = _gitignore, exclude = _exclude;
        bool inRepository = _inRepository;
        StatxBuffer stat;
        fixed (byte* git = ".git\0"u8)
        {
            if (PosixDirectory.StatAt(fd, git, follow: false, &stat) == 0)
            {
                inRepository = true;
                gitignore = null;
                exclude = LoadAt(fd, ".git/info/exclude\0"u8, follow: true) is { } info ? new Frame(info, [], relative.Length, depth, null) : null;
            }
        }
        if (inRepository && LoadAt(fd, ".gitignore\0"u8, follow: false) is { } rules)
            gitignore = new Frame(rules, [], relative.Length, depth, Relevant(gitignore, rules, depth));
        Frame? dotIgnore = _dotIgnore;
        if (LoadAt(fd, ".ignore\0"u8, follow: false) is { } dot) dotIgnore = new Frame(dot, [], relative.Length, depth, Relevant(dotIgnore, dot, depth));
        if (gitignore == _gitignore && exclude == _exclude && dotIgnore == _dotIgnore && inRepository == _inRepository) return this;
        return new IgnoreFiles(dotIgnore, gitignore, exclude, inRepository);
    }

    /// <summary>
    /// The chain below a new file with <paramref name="rules"/> at <paramref name="depth"/>, without the
    /// innermost files that cannot decide anything there any more: their path rules cannot reach that deep,
    /// and they have no name rules, or the same ones as the new file (which then matches first).
    /// </summary>
    private static Frame? Relevant(Frame? chain, IgnoreRules rules, int depth)
    {
        while (chain is not null && chain.Rules.PathDepthLimit < depth - chain.Depth + 1
               && (!chain.Rules.HasNameRules || chain.Rules.SameNameRules(rules)))
        {
            chain = chain.Parent;
        }
        return chain;
    }

    /// <summary>Is the entry <paramref name="name"/> in <paramref name="directory"/> (relative to the root, at
    /// <paramref name="depth"/> levels below it) ignored?</summary>
    public bool IsIgnored(ReadOnlySpan<byte> directory, ReadOnlySpan<byte> name, bool isDirectory, int depth, List<int> scratch)
    {
        foreach (var chain in (ReadOnlySpan<Frame?>)[_dotIgnore, _gitignore, _exclude])
        {
            for (var frame = chain; frame is not null; frame = frame.Parent)
            {
                var verdict = frame.Rules.Match(frame.Prefix, directory[frame.BaseLength..], name, isDirectory, depth - frame.Depth + 1, scratch);
                if (verdict != IgnoreVerdict.None) return verdict == IgnoreVerdict.Ignore;
            }
        }
        return false;
    }

    private static byte[] Join(byte[] directory, ReadOnlySpan<byte> name) =>
        directory.Length == 1 ? [(byte)'/', .. name, 0] : [.. directory, (byte)'/', .. name, 0];

    private static unsafe bool Exists(byte[] pathZ)
    {
        StatxBuffer stat;
        fixed (byte* p = pathZ) return PosixDirectory.StatAt(Libc.AT_FDCWD, p, follow: false, &stat) == 0;
    }

    private static unsafe IgnoreRules? Load(byte[] pathZ, bool follow)
    {
        fixed (byte* p = pathZ) return Read(Libc.AT_FDCWD, p, follow);
    }

    private static unsafe IgnoreRules? LoadAt(int dirFd, ReadOnlySpan<byte> nameZ, bool follow)
    {
        fixed (byte* p = nameZ) return Read(dirFd, p, follow);
    }

    /// <summary>
    /// Reads and parses a rules file; a missing or unreadable file, or anything but a regular file, has no
    /// rules. A tree is untrusted: a FIFO named .gitignore must not block the walk (O_NONBLOCK, then the kind
    /// is checked), and like git (2.32+) a .gitignore or .ignore that is a symlink is not followed
    /// (<paramref name="follow"/> false); .git/info/exclude is the repository's own file and is.
    /// </summary>
    private static unsafe IgnoreRules? Read(int dirFd, byte* pathZ, bool follow)
    {
        int flags = Libc.O_RDONLY | Libc.O_CLOEXEC | Libc.O_NONBLOCK | (follow ? 0 : Libc.O_NOFOLLOW);
        int fd;
        do fd = Libc.OpenAt(dirFd, pathZ, flags, 0);
        while (fd < 0 && PosixDirectory.LastErrno() == Libc.EINTR);
        if (fd < 0) return null;
        StatxBuffer stat;
        if (PosixDirectory.StatFd(fd, &stat) != 0 || (stat.Mode & 0xF000) != 0x8000)
        {
            Libc.Close(fd);
            return null;
        }
        try
        {
            var content = new List<byte>();
            byte* buffer = stackalloc byte[8192];
            while (content.Count < MaxFileSize)
            {
                nint read = Libc.Read(fd, buffer, 8192);
                if (read < 0 && PosixDirectory.LastErrno() == Libc.EINTR) continue;
                if (read <= 0) break;
                content.AddRange(new ReadOnlySpan<byte>(buffer, (int)read));
            }
            return IgnoreRules.Parse(CollectionsMarshal.AsSpan(content));
        }
        finally
        {
            Libc.Close(fd);
        }
    }
}
