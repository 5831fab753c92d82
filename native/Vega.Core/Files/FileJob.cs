namespace Vega.Core.Files;

/// <summary>What every long-running job offers the export layer: progress, cancel, dispose.</summary>
public interface IJob : IDisposable
{
    /// <summary>Writes the job's 4 progress counters (their meaning depends on the job; see vega.h).</summary>
    void ReadProgress(Span<long> counters);

    /// <summary>Asks the job to stop; safe from any thread.</summary>
    void Cancel();
}

/// <summary>
/// A job over the files of a <see cref="FileSource"/>: worker threads run <see cref="Run"/> and hand
/// results over as sets of <see cref="ResultTable"/>s, which a consumer takes with <see cref="TryTake"/>.
/// Output is bounded (workers wait while <see cref="MaxReady"/> sets are untaken), a cancel stops
/// workers at their next file, and an unexpected exception in a worker is kept and rethrown to the
/// consumer instead of escaping the thread.
/// </summary>
public abstract class FileJob : IJob
{
    private const int MaxReady = 8;

    protected readonly FileSource Source;
    private readonly Thread[] _threads;
    private readonly object _output = JobMonitors.Rent(); // given back in Dispose once the workers have left
    private readonly Queue<IReadOnlyList<ResultTable>> _ready = new();
    private readonly CancellationTokenSource _cancel = new();
    private int _liveWorkers;
    private bool _finished;
    private Exception? _fault;
    private int _arrived, _stage; // WaitForAllWorkers
    private int _disposed;

    /// <summary>Progress counters, updated with Interlocked by the subclass.</summary>
    protected long Progress0, Progress1, Progress2, Progress3;

    protected FileJob(FileSource source, int threads)
    {
        if (threads < 0 || threads > 1024) throw new ArgumentException("threads must be between 0 and 1024");
        source.Claim();
        Source = source;
        _threads = new Thread[threads > 0 ? threads : Environment.ProcessorCount];
        _liveWorkers = _threads.Length;
    }

    protected int WorkerCount => _threads.Length;

    protected CancellationToken Cancellation => _cancel.Token;

    /// <summary>Starts the workers; called by the subclass once it is fully constructed.</summary>
    protected void Start()
    {
        for (int i = 0; i < _threads.Length; i++)
        {
            int worker = i;
            _threads[i] = new Thread(() => WorkerMain(worker), 256 * 1024) { IsBackground = true, Name = "vega-files" };
        }
        foreach (var thread in _threads) thread.Start();
    }

    /// <summary>One worker's whole share of the job. Throw OperationCanceledException (or return) when cancelled.</summary>
    protected abstract void Run(int worker);

    private void WorkerMain(int worker)
    {
        try { Run(worker); }
        catch (OperationCanceledException) { }
        catch (Exception e)
        {
            lock (_output) _fault ??= e;
            Cancel();
        }
        finally
        {
            lock (_output)
            {
                if (--_liveWorkers == 0) _finished = true;
                Monitor.PulseAll(_output);
            }
        }
    }

    /// <summary>
    /// Waits until every worker has called this (a barrier between the stages of a job). Throws
    /// OperationCanceledException once the job is cancelled (a failing worker cancels it, so none waits forever).
    /// </summary>
    protected void WaitForAllWorkers()
    {
        lock (_output)
        {
            _cancel.Token.ThrowIfCancellationRequested();
            int stage = _stage;
            if (++_arrived == _threads.Length)
            {
                _arrived = 0;
                _stage++;
                Monitor.PulseAll(_output);
                return;
            }
            while (stage == _stage && !_cancel.IsCancellationRequested) Monitor.Wait(_output);
            if (stage == _stage) throw new OperationCanceledException();
        }
    }

    /// <summary>Hands a set of tables to the consumer, waiting while the output is full. False once cancelled.</summary>
    protected bool Emit(IReadOnlyList<ResultTable> tables)
    {
        lock (_output)
        {
            while (_ready.Count >= MaxReady && !_cancel.IsCancellationRequested) Monitor.Wait(_output);
            if (_cancel.IsCancellationRequested) return false;
            _ready.Enqueue(tables);
            Monitor.PulseAll(_output);
            return true;
        }
    }

    /// <summary>
    /// Takes the next set of tables, waiting up to <paramref name="timeoutMs"/> (-1: forever). Returns true
    /// when the job is finished and everything has been taken. A null set with false: the wait timed out.
    /// Throws OperationCanceledException after <see cref="Cancel"/>, and the worker's fault after one.
    /// </summary>
    public bool TryTake(int timeoutMs, out IReadOnlyList<ResultTable>? tables)
    {
        long deadline = timeoutMs < 0 ? long.MaxValue : Environment.TickCount64 + timeoutMs;
        lock (_output)
        {
            while (true)
            {
                if (_fault is not null) throw new InvalidOperationException("the job failed: " + _fault.Message, _fault);
                if (_cancel.IsCancellationRequested) throw new OperationCanceledException();
                if (_ready.TryDequeue(out tables))
                {
                    Monitor.PulseAll(_output);
                    return false;
                }
                if (_finished) return true;
                long remaining = deadline - Environment.TickCount64;
                if (remaining <= 0) return false;
                Monitor.Wait(_output, (int)Math.Min(remaining, int.MaxValue));
            }
        }
    }

    public void ReadProgress(Span<long> counters)
    {
        counters[0] = Interlocked.Read(ref Progress0);
        counters[1] = Interlocked.Read(ref Progress1);
        counters[2] = Interlocked.Read(ref Progress2);
        counters[3] = Interlocked.Read(ref Progress3);
    }

    public void Cancel()
    {
        try { _cancel.Cancel(); } catch (ObjectDisposedException) { }
        Source.Cancel();
        lock (_output) Monitor.PulseAll(_output);
    }

    /// <summary>Cancels if still running and waits briefly for the workers to leave.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        Cancel();
        bool left = true;
        foreach (var thread in _threads) left &= thread?.Join(TimeSpan.FromSeconds(2)) ?? true;
        Source.Dispose();
        if (left) JobMonitors.Return(_output);
    }
}
