namespace Vega.Core.Hashing;

/// <summary>The digests vegafs computes; the values are the VEGA_HASH_* codes of vega.h.</summary>
public enum HashAlgorithmKind
{
    Sha256 = 0,
    Sha1 = 1,
    Md5 = 2,
    Blake2b = 3,
    Xxh64 = 4,
    Xxh3_64 = 5,
    Xxh3_128 = 6,
    Crc32 = 7,
}

/// <summary>
/// An incremental digest: Append any number of times, then Finish, which writes the digest in the
/// byte order of its usual hex form (hashlib's <c>digest()</c>, xxhash's canonical form, crc32
/// big-endian). Finish leaves the hasher to be Reset before reuse. Not thread-safe: one per worker.
/// </summary>
public abstract class Hasher
{
    public const int MaxDigestSize = 64;

    public abstract int DigestSize { get; }

    public abstract void Reset();

    public abstract void Append(ReadOnlySpan<byte> data);

    public abstract int Finish(Span<byte> digest);

    public static Hasher Create(HashAlgorithmKind kind) => kind switch
    {
        HashAlgorithmKind.Xxh64 => new XxHash64(),
        HashAlgorithmKind.Xxh3_64 => new XxHash3(wide: false),
        HashAlgorithmKind.Xxh3_128 => new XxHash3(wide: true),
        HashAlgorithmKind.Crc32 => new Crc32(),
        HashAlgorithmKind.Sha256 or HashAlgorithmKind.Sha1 or HashAlgorithmKind.Md5 or HashAlgorithmKind.Blake2b => new OpenSslDigest(kind),
        _ => throw new ArgumentException($"unknown hash algorithm {(int)kind}"),
    };

    /// <summary>Whether <paramref name="kind"/> can be computed on this machine (the OpenSSL ones need libcrypto).</summary>
    public static bool IsAvailable(HashAlgorithmKind kind) => kind switch
    {
        HashAlgorithmKind.Xxh64 or HashAlgorithmKind.Xxh3_64 or HashAlgorithmKind.Xxh3_128 or HashAlgorithmKind.Crc32 => true,
        HashAlgorithmKind.Sha256 or HashAlgorithmKind.Sha1 or HashAlgorithmKind.Md5 or HashAlgorithmKind.Blake2b => OpenSslDigest.Has(kind),
        _ => false,
    };
}
