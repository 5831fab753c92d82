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
                sum = HorizontalSum(Avx.Add(acc0, acc1));
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
                    var d0 = Avx.Subtract(Avx.LoadVector256(pa + i), Avx.LoadVector256(pb + i));
                    var d1 = Avx.Subtract(Avx.LoadVector256(pa + i + 8), Avx.LoadVector256(pb + i + 8));
                    acc0 = Fma.MultiplyAdd(d0, d0, acc0);
                    acc1 = Fma.MultiplyAdd(d1, d1, acc1);
                }
                sum = HorizontalSum(Avx.Add(acc0, acc1));
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

    /// <summary>
    /// Distances from one query to 4 consecutive rows (<paramref name="rows"/>, dim apart) at once: each
    /// query chunk is loaded once for 4 rows and 4 independent accumulators keep the FMA units busy, which
    /// is what makes a batch of queries over cached rows compute-bound rather than loop-bound.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Four(bool l2, float* query, float* rows, int dim, float* output) =>
        Four(l2, query, rows, rows + dim, rows + 2 * dim, rows + 3 * dim, dim, output);

    /// <summary>As <see cref="Four(bool, float*, float*, int, float*)"/> for 4 rows anywhere (a graph node's neighbours).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Four(bool l2, float* query, float* r0, float* r1, float* r2, float* r3, int dim, float* output)
    {
        int i = 0;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        if (Avx2.IsSupported && Fma.IsSupported && dim >= 8)
        {
            var a0 = Vector256<float>.Zero;
            var a1 = Vector256<float>.Zero;
            var a2 = Vector256<float>.Zero;
            var a3 = Vector256<float>.Zero;
            for (; i <= dim - 8; i += 8)
            {
                var q = Avx.LoadVector256(query + i);
                if (l2)
                {
                    var d0 = Avx.Subtract(q, Avx.LoadVector256(r0 + i));
                    var d1 = Avx.Subtract(q, Avx.LoadVector256(r1 + i));
                    var d2 = Avx.Subtract(q, Avx.LoadVector256(r2 + i));
                    var d3 = Avx.Subtract(q, Avx.LoadVector256(r3 + i));
                    a0 = Fma.MultiplyAdd(d0, d0, a0);
                    a1 = Fma.MultiplyAdd(d1, d1, a1);
                    a2 = Fma.MultiplyAdd(d2, d2, a2);
                    a3 = Fma.MultiplyAdd(d3, d3, a3);
                }
                else
                {
                    a0 = Fma.MultiplyAdd(q, Avx.LoadVector256(r0 + i), a0);
                    a1 = Fma.MultiplyAdd(q, Avx.LoadVector256(r1 + i), a1);
                    a2 = Fma.MultiplyAdd(q, Avx.LoadVector256(r2 + i), a2);
                    a3 = Fma.MultiplyAdd(q, Avx.LoadVector256(r3 + i), a3);
                }
            }
            s0 = HorizontalSum(a0);
            s1 = HorizontalSum(a1);
            s2 = HorizontalSum(a2);
            s3 = HorizontalSum(a3);
        }
        else if (dim >= 4)
        {
            // The SSE baseline NativeAOT compiles for (no AVX2 path there unless the build raises it).
            var a0 = Vector128<float>.Zero;
            var a1 = Vector128<float>.Zero;
            var a2 = Vector128<float>.Zero;
            var a3 = Vector128<float>.Zero;
            for (; i <= dim - 4; i += 4)
            {
                var q = Vector128.Load(query + i);
                if (l2)
                {
                    var d0 = q - Vector128.Load(r0 + i);
                    var d1 = q - Vector128.Load(r1 + i);
                    var d2 = q - Vector128.Load(r2 + i);
                    var d3 = q - Vector128.Load(r3 + i);
                    a0 += d0 * d0;
                    a1 += d1 * d1;
                    a2 += d2 * d2;
                    a3 += d3 * d3;
                }
                else
                {
                    a0 += q * Vector128.Load(r0 + i);
                    a1 += q * Vector128.Load(r1 + i);
                    a2 += q * Vector128.Load(r2 + i);
                    a3 += q * Vector128.Load(r3 + i);
                }
            }
            s0 = Vector128.Sum(a0);
            s1 = Vector128.Sum(a1);
            s2 = Vector128.Sum(a2);
            s3 = Vector128.Sum(a3);
        }
        for (; i < dim; i++)
        {
            float q = query[i];
            if (l2)
            {
                float d0 = q - r0[i], d1 = q - r1[i], d2 = q - r2[i], d3 = q - r3[i];
                s0 += d0 * d0; s1 += d1 * d1; s2 += d2 * d2; s3 += d3 * d3;
            }
            else
            {
                s0 += q * r0[i]; s1 += q * r1[i]; s2 += q * r2[i]; s3 += q * r3[i];
            }
        }
        if (l2)
        {
            output[0] = s0; output[1] = s1; output[2] = s2; output[3] = s3;
        }
        else
        {
            output[0] = 1f - s0; output[1] = 1f - s1; output[2] = 1f - s2; output[3] = 1f - s3;
        }
    }

    /// <summary>
    /// The sum of a vector's lanes with explicit SSE/AVX instructions: NativeAOT compiles for a baseline
    /// below AVX, where Vector256's operators and Sum are software fallbacks even inside an
    /// Avx2.IsSupported branch (measured: 4x slower); the intrinsics themselves are real instructions.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HorizontalSum(Vector256<float> v)
    {
        var half = Sse.Add(v.GetLower(), Avx.ExtractVector128(v, 1));
        var pairs = Sse.Add(half, Sse.MoveHighToLow(half, half));
        return Sse.AddScalar(pairs, Sse.Shuffle(pairs, pairs, 0x55)).ToScalar();
    }

    /// <summary>Scales <paramref name="vector"/> to length 1 in place; false for the zero vector (left as is).</summary>
    public static bool Normalize(Span<float> vector)
    {
        // In double: a float sum of squares overflows for components near 1e19 and underflows near 1e-23,
        // which would call finite, nonzero vectors zero.
        double sum = 0;
        foreach (float value in vector) sum += (double)value * value;
        double norm = Math.Sqrt(sum);
        if (norm == 0 || !double.IsFinite(norm)) return false;
        for (int i = 0; i < vector.Length; i++) vector[i] = (float)(vector[i] / norm);
        return true;
    }
}

/// <summary>The k smallest (distance, row) pairs seen: a bounded max-heap whose root is the current worst.</summary>
public sealed class TopK(int k)
{
    private readonly float[] _distances = new float[k];
    private readonly long[] _rows = new long[k];

    public int Count { get; private set; }

    /// <summary>Distances above this cannot enter (infinity until k pairs are held); an equal one enters
    /// only with a lower row, so results do not depend on the order rows are offered in.</summary>
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
        else if (distance < _distances[0] || (distance == _distances[0] && row < _rows[0]))
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
