using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Vega.Core.Vectors;

/// <summary>How a store measures distance (vega.h VEGA_METRIC_*). Smaller is closer for all three.</summary>
public enum VectorMetric
{
    /// <summary>1 - cos(q, x). Vectors are stored normalized, so this is 1 - dot.</summary>
    Cosine = 0,
    /// <summary>Squared euclidean distance, as hnswlib and faiss report it.</summary>
    L2 = 1,
    /// <summary>1 - dot(q, x), as hnswlib's "ip".</summary>
    InnerProduct = 2,
}

/// <summary>
/// The distance kernels: one query against contiguous rows. Hand-written with Vector256 and FMA because
/// the fused squared-L2 form (sum of (q - x)^2, exact for near vectors) is not in TensorPrimitives, and
/// the dot kernel shares its loop shape; both fall back to Vector128/scalar code without AVX2.
/// </summary>
public static class Distances
{
    public static float Distance(VectorMetric metric, ReadOnlySpan<float> query, ReadOnlySpan<float> row) =>
        metric == VectorMetric.L2 ? SquaredL2(query, row) : 1f - Dot(query, row);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        int n = a.Length, i = 0;
        fixed (float* pa = a, pb = b)
        {
            float sum = 0;
            if (Avx2.IsSupported && Fma.IsSupported && n >= 16)
            {
                var acc0 = Vector256<float>.Zero;
                var acc1 = Vector256<float>.Zero;
                for (; i <= n - 16; i += 16)
                {
                    acc0 = Fma.MultiplyAdd(Avx.LoadVector256(pa + i), Avx.LoadVector256(pb + i), acc0);
                    acc1 = Fma.MultiplyAdd(Avx.LoadVector256(pa + i + 8), Avx.LoadVector256(pb + i + 8), acc1);
                }
                sum = Vector256.Sum(acc0 + acc1);
            }
            for (; i <= n - 4; i += 4) sum += Vector128.Sum(Vector128.Load(pa + i) * Vector128.Load(pb + i));
            for (; i < n; i++) sum += pa[i] * pb[i];
            return sum;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe float SquaredL2(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        int n = a.Length, i = 0;
        fixed (float* pa = a, pb = b)
        {
            float sum = 0;
            if (Avx2.IsSupported && Fma.IsSupported && n >= 16)
            {
                var acc0 = Vector256<float>.Zero;
                var acc1 = Vector256<float>.Zero;
                for (; i <= n - 16; i += 16)
                {
                    var d0 = Avx.LoadVector256(pa + i) - Avx.LoadVector256(pb + i);
                    var d1 = Avx.LoadVector256(pa + i + 8) - Avx.LoadVector256(pb + i + 8);
                    acc0 = Fma.MultiplyAdd(d0, d0, acc0);
                    acc1 = Fma.MultiplyAdd(d1, d1, acc1);
                }
                sum = Vector256.Sum(acc0 + acc1);
            }
            for (; i <= n - 4; i += 4)
            {
                var d = Vector128.Load(pa + i) - Vector128.Load(pb + i);
                sum += Vector128.Sum(d * d);
            }
            for (; i < n; i++)
            {
                float d = pa[i] - pb[i];
                sum += d * d;
            }
            return sum;
        }
    }

    /// <summary>Scales <paramref name="vector"/> to length 1 in place; false for the zero vector (left as is).</summary>
    public static bool Normalize(Span<float> vector)
    {
        float norm = MathF.Sqrt(Dot(vector, vector));
        if (norm == 0 || !float.IsFinite(norm)) return false;
        float scale = 1f / norm;
        for (int i = 0; i < vector.Length; i++) vector[i] *= scale;
        return true;
    }
}

/// <summary>The k smallest (distance, row) pairs seen: a bounded max-heap whose root is the current worst.</summary>
public sealed class TopK(int k)
{
    private readonly float[] _distances = new float[k];
    private readonly long[] _rows = new long[k];

    public int Count { get; private set; }

    /// <summary>Distances at or above this cannot enter (infinity until k pairs are held).</summary>
    public float Threshold => Count < k ? float.PositiveInfinity : _distances[0];

    public void Add(float distance, long row)
    {
        if (Count < k)
        {
            int at = Count++;
            _distances[at] = distance;
            _rows[at] = row;
            SiftUp(at);
        }
        else if (distance < _distances[0])
        {
            _distances[0] = distance;
            _rows[0] = row;
            SiftDown(0);
        }
    }

    public void AddAll(TopK other)
    {
        for (int i = 0; i < other.Count; i++) Add(other._distances[i], other._rows[i]);
    }

    /// <summary>The pairs, closest first (ties by row), into the spans; returns how many.</summary>
    public int Drain(Span<float> distances, Span<long> rows)
    {
        int n = Count;
        var order = new (float Distance, long Row)[n];
        for (int i = 0; i < n; i++) order[i] = (_distances[i], _rows[i]);
        Array.Sort(order, (a, b) => a.Distance != b.Distance ? a.Distance.CompareTo(b.Distance) : a.Row.CompareTo(b.Row));
        for (int i = 0; i < n; i++)
        {
            distances[i] = order[i].Distance;
            rows[i] = order[i].Row;
        }
        Count = 0;
        return n;
    }

    private bool Worse(int a, int b) =>
        _distances[a] > _distances[b] || (_distances[a] == _distances[b] && _rows[a] > _rows[b]);

    private void SiftUp(int at)
    {
        while (at > 0)
        {
            int parent = (at - 1) / 2;
            if (!Worse(at, parent)) return;
            Swap(at, parent);
            at = parent;
        }
    }

    private void SiftDown(int at)
    {
        while (true)
        {
            int left = 2 * at + 1, worst = at;
            if (left < Count && Worse(left, worst)) worst = left;
            if (left + 1 < Count && Worse(left + 1, worst)) worst = left + 1;
            if (worst == at) return;
            Swap(at, worst);
            at = worst;
        }
    }

    private void Swap(int a, int b)
    {
        (_distances[a], _distances[b]) = (_distances[b], _distances[a]);
        (_rows[a], _rows[b]) = (_rows[b], _rows[a]);
    }
}
