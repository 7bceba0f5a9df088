using System.Globalization;

namespace Compact.Util;

/// <summary>Exclusive ownership of an output folder or file for the life of one command. The lock is an OS lock:
/// a lock file held open with <see cref="FileShare.None"/> (flock(LOCK_EX) on Linux and macOS, a share-mode
/// lock on Windows), so it is released by the kernel when the holder exits for any reason, kill -9 included;
/// a lock left by a dead process is therefore simply taken over. The holder's PID goes to a side file
/// (<c>LOCK.owner</c>) because a held lock file cannot be read by another process; a second writer is refused
/// with a one-line message naming that PID.</summary>
public sealed class OutputLock : IDisposable
{
    /// <summary>Name of the lock file inside a locked folder.</summary>
    public const string FolderLockName = ".compact.lock";

    readonly FileStream _fs;
    readonly string? _createdDir;

    /// <summary>The lock file.</summary>
    public string LockPath { get; }
    /// <summary>The PID named by a lock left behind by a process that no longer runs (taken over), or null.</summary>
    public int? TookOverFrom { get; }

    OutputLock(FileStream fs, string lockPath, string? createdDir, int? tookOver)
    {
        _fs = fs;
        LockPath = lockPath;
        _createdDir = createdDir;
        TookOverFrom = tookOver;
    }

    /// <summary>Locks an output folder (created if missing; removed again on release if it stayed empty).</summary>
    public static OutputLock ForFolder(string dir, string flag = "--out", string what = "")
    {
        if (File.Exists(dir))
            throw new CompactException($"{flag} {dir} is a file, but a folder is expected here; choose a folder path for {flag}.");
        string? created = Directory.Exists(dir) ? null : Path.GetFullPath(dir);
        try { Directory.CreateDirectory(dir); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CompactException($"{flag} {dir}: cannot create the folder ({FirstLine(e.Message)}); choose a writable location for {flag}.");
        }
        return Acquire(Path.Combine(dir, FolderLockName), dir, flag, created, what);
    }

    /// <summary>Locks an output file through a sibling <c>FILE.lock</c> (removed on release).</summary>
    public static OutputLock ForFile(string file, string flag = "--out", string what = "")
    {
        if (Directory.Exists(file))
            throw new CompactException($"{flag} {file} is a folder, but a file is expected here; give a file path for {flag}.");
        var parent = Path.GetDirectoryName(Path.GetFullPath(file))!;
        try { Directory.CreateDirectory(parent); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CompactException($"{flag} {file}: cannot create its folder {parent} ({FirstLine(e.Message)}); choose a writable location for {flag}.");
        }
        return Acquire(file + ".lock", file, flag, null, what);
    }

    static OutputLock Acquire(string lockPath, string target, string flag, string? createdDir, string what)
    {
        var ownerPath = lockPath + ".owner";
        for (int attempt = 0; ; attempt++)
        {
            FileStream fs;
            try
            {
                fs = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
            }
            catch (UnauthorizedAccessException e)
            {
                throw new CompactException($"{flag} {target}: cannot write there ({FirstLine(e.Message)}); choose a writable location for {flag}.");
            }
            catch (IOException) when (File.Exists(lockPath))
            {
                var owner = ReadOwner(ownerPath);
                if (owner?.Pid is null && attempt < 20) { Thread.Sleep(25); continue; }   // the holder is writing its owner file
                string who = owner?.Pid is { } pid ? $"PID {pid}{(owner.Value.Command is { Length: > 0 } c ? $", `{c}`" : "")}" : "another process";
                throw new CompactException($"{flag} {target} is being written by another compact process ({who}); wait for it to finish or stop it, or choose another {flag}.");
            }
            catch (IOException e)
            {
                throw new CompactException($"{flag} {target}: cannot create the lock file {lockPath} ({FirstLine(e.Message)}); choose a writable location for {flag}.");
            }
            // The lock file may have been removed by its previous holder between our open and our lock: then we hold
            // a lock on an orphaned file and must try again on the new one.
            if (!File.Exists(lockPath)) { fs.Dispose(); continue; }
            int? tookOver = null;
            if (ReadOwner(ownerPath) is { Pid: { } stale } && stale != Environment.ProcessId) tookOver = stale;
            try
            {
                File.WriteAllText(ownerPath, string.Create(CultureInfo.InvariantCulture,
                    $"{Environment.ProcessId}\n{what}\n{DateTime.UtcNow:O}\n"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                fs.Dispose();
                throw new CompactException($"{flag} {target}: cannot write {ownerPath} ({FirstLine(e.Message)}); choose a writable location for {flag}.");
            }
            return new OutputLock(fs, lockPath, createdDir, tookOver);
        }
    }

    static (int? Pid, string? Command)? ReadOwner(string ownerPath)
    {
        try
        {
            if (!File.Exists(ownerPath)) return null;
            var lines = File.ReadAllLines(ownerPath);
            int? pid = lines.Length > 0 && int.TryParse(lines[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var p) ? p : null;
            return (pid, lines.Length > 1 ? lines[1] : null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    static string FirstLine(string s) => s.Split('\n')[0].Trim().TrimEnd('.');

    /// <summary>Releases the lock: the owner file and the lock file are removed while still held, then the handle
    /// is closed; a folder this lock created is removed again when nothing was written into it.</summary>
    public void Dispose()
    {
        try { File.Delete(LockPath + ".owner"); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        try { File.Delete(LockPath); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        _fs.Dispose();
        if (_createdDir is not null)
        {
            try { if (Directory.Exists(_createdDir) && !Directory.EnumerateFileSystemEntries(_createdDir).Any()) Directory.Delete(_createdDir); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }
}
