using Compact.Distill;
using Compact.Models;
using Compact.Tokenization;
using Compact.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Compact.Tests.Distill;

/// <summary>--reference-code against an independent re-implementation of the authors' training loss
/// (alg/data.py + alg/trainer.py of CAG-Research/COMPACT-Multi-teacher-CoT-Distillation, read, not copied): the
/// chat template applied to the raw chain of thought, tokenized whole, cut at max_len from the end, right-padded;
/// per-teacher CE from the assistant marker to the end; raw-logit MI summed over the padded sequence; consensus on
/// the last non-pad state with flat GQA expansion; z-scores, softmax; symmetric KL over every position valid in
/// both sequences. The test computes all of it in float64 with per-row loops from the model's hidden states and
/// logits (the forward itself is shared).</summary>
public class ReferenceCodeTests
{
    const string Question = "Tom has 3 boxes with 4 apples each. How many apples?";
    static readonly string[] Cots =
    [
        "3 boxes times 4 apples. So 3 * 4 = 12.",
        "First, each box has 4. Therefore the total is 4 + 4 + 4 = 12, Hmm yes.",
        "Let us count: 4, 8, 12. The answer is 12.",
    ];

    [Fact]
    public void Reference_loss_and_weights_equal_an_independent_reimplementation_of_the_authors_code()
    {
        var tok = ByteLevelBpeTrainer.BytesOnly().ToTokenizer();               // ChatML, bytes only: whole-string = segment encoding
        var chat = ChatFormat.For(tok);
        using var model = TestUtil.TinyModel("qwen2-tiny", tok.VocabSize, seed: 2);   // 4 query heads, 2 KV heads: flat ≠ by-head
        using var lora = LoraAdapters.Attach(model, new LoraConfig { Rank = 4, Alpha = 8, Dropout = 0 }, 3);
        using (torch.no_grad())
        {
            var g = new Generator(7);
            foreach (var p in lora.Parameters()) p.copy_(torch.randn(p.shape, generator: g).mul(0.3));
        }
        int maxLen = 125;                                                           // the longest chain is cut at the end
        var q = new MtQuestion("q", Question, "12", Cots.Select((c, i) => new Rationale($"t{i}", c)).ToList());
        var qb = BranchBuilder.Build(chat, q, new AnswerSuffix(), maxLen, TruncationMode.TruncateStart, referenceCode: true);
        var opts = new CompactOptions { ReferenceCode = true, Estimator = MiEstimator.Reference };
        var outcome = new CompactObjective(model, tok, opts).Run(qb, WeightMode.Compact, withLoss: true);
        double ours = outcome.Loss!.item<float>();

        // ---- the authors' data: apply_chat_template(raw CoT), tokenizer(texts, padding, truncation, max_length) ----
        var rows = Cots.Select(c => tok.Encode($"<|im_start|>user\n{Question}<|im_end|>\n<|im_start|>assistant\n{c}<|im_end|>\n").Take(maxLen).ToArray()).ToArray();
        Assert.True(rows.Any(r => r.Length == maxLen) && rows.Any(r => r.Length < maxLen));
        Assert.Equal(rows.Select(r => r.ToList()), qb.Branches.Select(b => b.Encoded.Ids.ToList()));
        int k = rows.Length, L = rows.Max(r => r.Length);
        var ids = new long[k, L];
        var mask = new int[k, L];
        for (int r = 0; r < k; r++)
            for (int t = 0; t < L; t++) { ids[r, t] = t < rows[r].Length ? rows[r][t] : tok.PadId; mask[r, t] = t < rows[r].Length ? 1 : 0; }
        var marker = tok.Encode("<|im_start|>assistant\n");
        var start = rows.Select(r => Enumerable.Range(0, r.Length - marker.Count + 1).First(p => r.Skip(p).Take(marker.Count).SequenceEqual(marker)) + marker.Count).ToArray();
        var gold = tok.Encode("12");                                               // tokenizer(answer, add_special_tokens=False)

        double[,,] H, Z;                                                           // hidden (K, L, D) and logits (K, L, V)
        using (torch.no_grad())
        {
            var flat = new long[k * L];
            var m = new long[k * L];
            for (int r = 0; r < k; r++) for (int t = 0; t < L; t++) { flat[r * L + t] = ids[r, t]; m[r * L + t] = mask[r, t]; }
            using var f = model.Forward(torch.tensor(flat, [k, L]), torch.tensor(m, [k, L]));
            H = To3(f.Hidden);
            using var logits = model.Logits(f.Hidden);
            Z = To3(logits);
        }
        int D = H.GetLength(2), V = Z.GetLength(2);

        // per_teacher_loss: CE at shifted positions p (predicting p+1) with mask[p+1] and p >= start-1, mean.
        var ppl = new double[k];
        for (int r = 0; r < k; r++)
        {
            double sum = 0; int n = 0;
            for (int p = 0; p < L - 1; p++)
            {
                if (mask[r, p + 1] == 0 || p < start[r] - 1) continue;
                sum += LogSumExp(Z, r, p) - Z[r, p, ids[r, p + 1]]; n++;
            }
            ppl[r] = sum / Math.Max(n, 1);
        }

        // compute_mi_score: proxy_t = mean_j h_t·W[y_j] over every padded position, ΔI_0 = 0, relu, m_t from one-token thinking ids.
        var W = To2(model.OutputWeight);
        var thinkIds = new HashSet<long>();
        foreach (var w in Compatibility.DefaultThinkingWords)
            foreach (var v in new[] { w, " " + w }) { var e = tok.Encode(v); if (e.Count == 1) thinkIds.Add(e[0]); }
        var mi = new double[k];
        for (int r = 0; r < k; r++)
        {
            double prev = 0;
            for (int t = 0; t < L; t++)
            {
                double proxy = 0;
                foreach (var y in gold) { double dot = 0; for (int d = 0; d < D; d++) dot += H[r, t, d] * W[y, d]; proxy += dot; }
                proxy /= gold.Count;
                if (t > 0) mi[r] += Math.Max(0, proxy - prev) * (thinkIds.Contains(ids[r, t]) ? 1.0 : 0.1);
                prev = proxy;
            }
        }

        // compute_consensus_score: last non-pad state, last layer's q_proj/k_proj (base + bias + LoRA), k repeated
        // element-wise along the feature axis, softmax(q kᵀ / √d_q), diagonal zeroed, column sums.
        var attn = model.Layers[^1].self_attn;
        double[] Project(Linear lin, int r)
        {
            var w = To2(lin.weight); var b = lin.bias is null ? null : To1(lin.bias);
            var a = To2(lin.Lora!.A); var bb = To2(lin.Lora.B); double s = lin.Lora.Scaling;
            int last = rows[r].Length - 1, outF = w.GetLength(0), rank = a.GetLength(0);
            var ax = new double[rank];
            for (int i = 0; i < rank; i++) for (int d = 0; d < D; d++) ax[i] += a[i, d] * H[r, last, d];
            var y = new double[outF];
            for (int o = 0; o < outF; o++)
            {
                double v = b?[o] ?? 0;
                for (int d = 0; d < D; d++) v += w[o, d] * H[r, last, d];
                for (int i = 0; i < rank; i++) v += s * bb[o, i] * ax[i];
                y[o] = v;
            }
            return y;
        }
        var qs = Enumerable.Range(0, k).Select(r => Project(attn.q_proj, r)).ToArray();
        int groups = model.Config.NumHeads / model.Config.NumKvHeads;
        var ks = Enumerable.Range(0, k).Select(r => Project(attn.k_proj, r).SelectMany(x => Enumerable.Repeat(x, groups)).ToArray()).ToArray();
        var cons = new double[k];
        for (int i = 0; i < k; i++)
        {
            var logit = Enumerable.Range(0, k).Select(j => qs[i].Zip(ks[j]).Sum(x => x.First * x.Second) / Math.Sqrt(qs[i].Length)).ToArray();
            double mx = logit.Max(), z = logit.Sum(x => Math.Exp(x - mx));
            for (int j = 0; j < k; j++) if (j != i) cons[j] += Math.Exp(logit[j] - mx) / z;
        }

        double[] Norm(double[] x) { double mean = x.Average(), sd = Math.Sqrt(x.Sum(v => (v - mean) * (v - mean)) / (x.Length - 1)); return x.Select(v => (v - mean) / (sd + 1e-4)).ToArray(); }
        var (nm, nc, np) = (Norm(mi), Norm(cons), Norm(ppl));
        var fused = Enumerable.Range(0, k).Select(i => 1.0 * nm[i] + 1.0 * nc[i] - 0.5 * np[i]).ToArray();
        double fm = fused.Max(), fz = fused.Sum(x => Math.Exp(x - fm));
        var alpha = fused.Select(x => Math.Exp(x - fm) / fz).ToArray();

        // loss_sft + λ·loss_mcc with loss_mcc = Σ_{i<j, α_iα_j ≥ 1e-4} α_iα_j · mean over mask_i·mask_j of (KL(P_j‖P_i) + KL(P_i‖P_j)).
        double sft = Enumerable.Range(0, k).Sum(r => alpha[r] * ppl[r]), mcc = 0;
        for (int i = 0; i < k; i++)
            for (int j = i + 1; j < k; j++)
            {
                double wij = alpha[i] * alpha[j];
                if (wij < 1e-4) continue;
                double s = 0; int n = 0;
                for (int t = 0; t < L; t++)
                {
                    if (mask[i, t] * mask[j, t] == 0) continue;
                    double li = LogSumExp(Z, i, t), lj = LogSumExp(Z, j, t), kl = 0;
                    for (int v = 0; v < V; v++)
                    {
                        double a = Z[i, t, v] - li, b = Z[j, t, v] - lj;
                        kl += Math.Exp(b) * (b - a) + Math.Exp(a) * (a - b);
                    }
                    s += kl; n++;
                }
                mcc += wij * s / Math.Max(n, 1);
            }
        double expected = sft + 0.1 * mcc;

        for (int r = 0; r < k; r++)
        {
            Assert.Equal(ppl[r], outcome.Weights.Ppl[r], 4);
            Assert.Equal(mi[r], outcome.Weights.Mi[r], 3);
            Assert.Equal(cons[r], outcome.Weights.Cons[r], 4);
            Assert.Equal(alpha[r], outcome.Weights.Alpha[r], 4);
        }
        Assert.Equal(expected, ours, 4);
        Assert.True(mcc > 0);

        // The authors' micro-batch is this one question, padded to its own longest branch: batched with a question
        // whose branches are longer, it still gets the summed MI of its own padding.
        var longer = new MtQuestion("q2", Question, "12", [new("t0", string.Concat(Enumerable.Repeat("4 more apples. ", 20))), new("t1", "So 12.")]);
        var qb2 = BranchBuilder.Build(chat, longer, new AnswerSuffix(), 1000, TruncationMode.TruncateStart, referenceCode: true);
        Assert.True(qb2.Branches.Max(b => b.Length) > L);
        var together = new CompactObjective(model, tok, opts).RunMany([qb, qb2], WeightMode.Compact, withLoss: false).Outcomes[0];
        for (int r = 0; r < k; r++) Assert.Equal(mi[r], together.Weights.Mi[r], 3);
    }

    static double LogSumExp(double[,,] z, int r, int t)
    {
        double mx = double.NegativeInfinity;
        for (int v = 0; v < z.GetLength(2); v++) mx = Math.Max(mx, z[r, t, v]);
        double s = 0;
        for (int v = 0; v < z.GetLength(2); v++) s += Math.Exp(z[r, t, v] - mx);
        return mx + Math.Log(s);
    }

    static double[,,] To3(Tensor t)
    {
        var a = t.to(ScalarType.Float64).cpu().data<double>().ToArray();
        int n0 = (int)t.shape[0], n1 = (int)t.shape[1], n2 = (int)t.shape[2];
        var r = new double[n0, n1, n2];
        Buffer.BlockCopy(a, 0, r, 0, a.Length * sizeof(double));
        return r;
    }

    static double[,] To2(Tensor t)
    {
        var a = t.detach().to(ScalarType.Float64).cpu().data<double>().ToArray();
        var r = new double[t.shape[0], t.shape[1]];
        Buffer.BlockCopy(a, 0, r, 0, a.Length * sizeof(double));
        return r;
    }

    static double[] To1(Tensor t) => t.detach().to(ScalarType.Float64).cpu().data<double>().ToArray();
}

/// <summary>MoT's merge: the K deltas averaged in float32 and added to the base once, so a bf16 base is rounded once.</summary>
public class MotMergeTests
{
    [Fact]
    public void Mot_averages_deltas_in_float32_and_rounds_once()
    {
        using var dir = new TestUtil.TempDir();
        using var model = TestUtil.TinyModel(dtype: ScalarType.BFloat16);
        using var twin = TestUtil.TinyModel(dtype: ScalarType.BFloat16);
        var dirs = new List<string>();
        var sum32 = new Dictionary<string, Tensor>();
        for (int a = 0; a < 3; a++)
        {
            using var set = LoraAdapters.Attach(model, new LoraConfig { Rank = 4, Alpha = 8 }, a + 1);
            using (torch.no_grad())
            {
                var g = new Generator((ulong)(10 + a));
                foreach (var (_, _, ad) in set.Items) ad.B.copy_(torch.randn(ad.B.shape, generator: g).mul(0.05));
                // ΔW_k = B_k A_k · α/r in float32, summed over k in float32 (the mean is taken below).
                foreach (var (module, _, ad) in set.Items)
                {
                    var d = ad.B.to(ScalarType.Float32).matmul(ad.A.to(ScalarType.Float32)).mul(8.0 / 4);
                    sum32[module] = sum32.TryGetValue(module, out var s) ? s.add(d) : d;
                }
            }
            dirs.Add(dir[$"a{a}"]);
            set.Save(dirs[^1], "tiny");
        }
        var layers = model.named_modules().Where(m => m.module is Linear && sum32.ContainsKey(m.name)).ToDictionary(m => m.name, m => (Linear)m.module);
        var expected = layers.ToDictionary(l => l.Key, l => l.Value.weight.to(ScalarType.Float32).add(sum32[l.Key].div(3)).to(ScalarType.BFloat16));

        MotRunner.MergeAverage(model, dirs);
        foreach (var (name, lin) in layers)
        {
            Assert.Equal(ScalarType.BFloat16, lin.weight.dtype);
            Assert.Equal(0L, lin.weight.ne(expected[name]).sum().item<long>());
        }

        // Merging one adapter after another into the bf16 base rounds three times and lands elsewhere.
        foreach (var d in dirs) { using var ad = LoraAdapters.Load(twin, d); ad.MergeIntoBase(1.0 / 3); }
        var twinLayers = twin.named_modules().Where(m => m.module is Linear && sum32.ContainsKey(m.name)).ToDictionary(m => m.name, m => (Linear)m.module);
        long differing = layers.Sum(l => l.Value.weight.ne(twinLayers[l.Key].weight).sum().item<long>());
        Assert.True(differing > 0);
    }
}
