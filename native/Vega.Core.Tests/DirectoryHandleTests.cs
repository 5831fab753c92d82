using Vega.Core.Files;

namespace Vega.Core.Tests;

/// <summary>
/// <see cref="DirectoryHandle"/>: names are single components, nothing is followed through a symlink,
/// special files are refused without blocking, and every step stays in the directory that was opened even
/// when its path is renamed or swapped afterwards.
/// </summary>
public sealed class DirectoryHandleTests : IDisposable
{
    private readonly TempTree _tree = new();

    public void Dispose() => _tree.Dispose();

    private DirectoryHandle Open(string relative = "d") => DirectoryHandle.Open(_tree.Dir(relative), create: false);

    [Theory]
    [InlineData("../x")]
    [InlineData("/etc/passwd")]
    [InlineData("a/b")]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("")]
    [InlineData("nul\0")]
    public void Names_that_are_not_one_component_are_refused_before_any_call(string name)
    {
        using var directory = Open();
        Assert.False(DirectoryHandle.IsPlainName(name));
        Assert.Throws<ArgumentException>(() => directory.OpenRead(name));
        Assert.Throws<ArgumentException>(() => directory.CreateNew(name));
        Assert.Throws<ArgumentException>(() => directory.Delete(name));
        Assert.Throws<ArgumentException>(() => directory.Rename(name, "x"));
        Assert.Throws<ArgumentException>(() => directory.OpenDirectory(name, create: true));
    }

    [Fact]
    public void Symlinks_are_never_followed_for_reading_creating_locking_or_entering()
    {
        string victim = _tree.File("outside/victim.txt", "precious");
        _tree.Dir("d");
        _tree.Link("d/read", victim);
        _tree.Link("d/dangling", Path.Combine(_tree.Root, "outside", "created"));
        _tree.Link("d/sub", Path.Combine(_tree.Root, "outside"));
        using var directory = Open();
        Assert.Contains("symlink", Assert.Throws<InvalidDataException>(() => directory.OpenRead("read")).Message);
        Assert.ThrowsAny<IOException>(() => directory.CreateNew("dangling")); // EEXIST: O_EXCL never follows
        Assert.Throws<InvalidDataException>(() => directory.TryLock("read"));
        Assert.Throws<InvalidDataException>(() => directory.OpenDirectory("sub", create: true));
        // Deleting a link removes the link, never its target.
        Assert.True(directory.Delete("read"));
        directory.DeleteTree("sub");
        Assert.Equal("precious", File.ReadAllText(victim));
        Assert.Equal(["victim.txt"], Directory.GetFiles(Path.Combine(_tree.Root, "outside")).Select(Path.GetFileName));
    }

    [Fact]
    public async Task A_fifo_or_a_directory_is_refused_as_a_file_without_blocking()
    {
        string dir = _tree.Dir("d");
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", Path.Combine(dir, "fifo"))) mkfifo.WaitForExit();
        Directory.CreateDirectory(Path.Combine(dir, "sub"));
        using var directory = Open();
        var read = Task.Run(() => Assert.Throws<InvalidDataException>(() => directory.OpenRead("fifo")));
        Assert.Same(read, await Task.WhenAny(read, Task.Delay(10_000))); // else opening the FIFO blocked
        Assert.Throws<InvalidDataException>(() => directory.OpenRead("sub"));
        Assert.Throws<FileNotFoundException>(() => directory.OpenRead("missing"));
    }

    [Fact]
    public void Work_stays_in_the_opened_directory_after_its_path_is_swapped()
    {
        string dir = _tree.Dir("d");
        using var directory = Open();
        Directory.Move(dir, Path.Combine(_tree.Root, "moved"));
        _tree.Dir("d"); // another directory now has the old path
        using (var stream = directory.CreateNew("new.tmp")) stream.Write("x"u8);
        directory.Rename("new.tmp", "new");
        directory.Fsync();
        Assert.True(File.Exists(Path.Combine(_tree.Root, "moved", "new")));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_tree.Root, "d")));
    }

    [Fact]
    public void ReadAll_refuses_a_file_over_its_limit_and_Entries_lists_raw_names()
    {
        string dir = _tree.Dir("d");
        File.WriteAllBytes(Path.Combine(dir, "big"), new byte[100]);
        _tree.RawFile("d", [0x62, 0xFF]);
        Directory.CreateDirectory(Path.Combine(dir, "sub"));
        using var directory = Open();
        Assert.Throws<InvalidDataException>(() => directory.ReadAll("big", 99));
        Assert.Equal(100, directory.ReadAll("big", 100).Length);
        var entries = directory.Entries().OrderBy(e => e.Name, StringComparer.Ordinal).ToList();
        Assert.Equal(3, entries.Count);
        Assert.Contains(entries, e => e.NameZ.SequenceEqual(new byte[] { 0x62, 0xFF, 0 }) && !e.IsDirectory);
        Assert.Contains(entries, e => e.Name == "sub" && e.IsDirectory);
        directory.DeleteTree("sub");
        Assert.False(Directory.Exists(Path.Combine(dir, "sub")));
    }

    [Fact]
    public void A_second_lock_on_the_same_file_is_refused_until_the_first_is_released()
    {
        using var directory = Open();
        using (var first = directory.TryLock("LOCK"))
        {
            Assert.NotNull(first);
            Assert.Null(directory.TryLock("LOCK"));
        }
        using var again = directory.TryLock("LOCK");
        Assert.NotNull(again);
        Assert.Equal(0, new FileInfo(Path.Combine(_tree.Root, "d", "LOCK")).Length);
    }

    [Fact]
    public async Task A_lock_released_while_other_threads_start_processes_can_be_taken_again_at_once()
    {
        using var directory = Open();
        using var stop = new CancellationTokenSource();
        int spawned = 0;
        var spawner = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                using (var child = System.Diagnostics.Process.Start("true")!) child.WaitForExit();
                Interlocked.Increment(ref spawned);
            }
        });
        try
        {
            // A forked child holds a copy of the lock's descriptor until it execs: the lock must be released
            // explicitly, not by the last close (a store closed and reopened at once was "in use").
            var until = DateTime.UtcNow.AddSeconds(2);
            while (DateTime.UtcNow < until || Volatile.Read(ref spawned) < 50)
            {
                var held = directory.TryLock("LOCK");
                Assert.NotNull(held);
                held.Dispose();
            }
        }
        finally
        {
            stop.Cancel();
            await spawner;
        }
    }
}
