"""SparseMatrix on torch CSR: products, transposes, gradients, row slices, duplicates."""
import torch

from graphfm.nn import NormalizedAdjacency
from graphfm.nn.propagation import SparseMatrix, empty_rows


def _random_matrix(rows=9, cols=6, nnz=30, seed=0):
    gen = torch.Generator().manual_seed(seed)
    idx = torch.stack([torch.randint(rows, (nnz,), generator=gen), torch.randint(cols, (nnz,), generator=gen)])
    return idx, torch.randn(nnz, generator=gen)


def _dense(idx, val, shape):
    return torch.zeros(shape).index_put_((idx[0], idx[1]), val, accumulate=True)


def test_product_transpose_and_duplicates_match_dense():
    idx, val = _random_matrix()           # 30 entries in a 9 x 6 matrix: duplicates are certain
    mat, dense = SparseMatrix(idx, val, (9, 6)), _dense(idx, val, (9, 6))
    x, y = torch.randn(6, 4), torch.randn(9, 3)
    assert mat.nnz < 30
    torch.testing.assert_close(mat.to_dense(), dense)
    torch.testing.assert_close(mat.product(x), dense @ x, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(mat.product(y, transpose=True), dense.T @ y, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(mat.product(x.double()), (dense.double() @ x.double()).float().double(),
                               atol=1e-5, rtol=1e-5)


def test_gradient_through_the_product_is_the_transpose():
    idx, val = _random_matrix(seed=1)
    mat, dense = SparseMatrix(idx, val, (9, 6)), _dense(idx, val, (9, 6))
    x = torch.randn(6, 4, requires_grad=True)
    w = torch.randn(9, 4)
    (mat @ x * w).sum().backward()
    torch.testing.assert_close(x.grad, dense.T @ w, atol=1e-5, rtol=1e-5)


def test_rows_slice_shares_storage_and_matches_dense_rows():
    idx, val = _random_matrix(rows=20, cols=20, nnz=80, seed=2)
    mat, dense = SparseMatrix(idx, val, (20, 20)), _dense(idx, val, (20, 20))
    x = torch.randn(20, 5)
    for a, b in [(0, 20), (3, 11), (19, 20), (7, 7)]:
        part = mat.rows(a, b)
        assert part.shape == (b - a, 20)
        torch.testing.assert_close(part.product(x), dense[a:b] @ x, atol=1e-5, rtol=1e-5)
    assert mat.rows(3, 11).col.data_ptr() == mat.col[int(mat.crow[3]):].data_ptr()


def test_normalized_adjacency_matrix_is_gcn_normalisation():
    ei = torch.tensor([[0, 1, 1, 2, 2, 3, 0, 0], [1, 0, 2, 1, 3, 2, 0, 3]])   # a self-loop is replaced
    ei = torch.cat([ei, ei.flip(0)[:, -1:]], 1)                               # 3 -> 0 closes the edge 0 - 3
    adj = NormalizedAdjacency(ei, 5)                                            # node 4 isolated
    a = torch.zeros(5, 5)
    keep = ei[0] != ei[1]
    a[ei[0][keep], ei[1][keep]] = 1.0
    a += torch.eye(5)
    dinv = a.sum(1).rsqrt()
    expected = dinv[:, None] * a * dinv[None, :]
    torch.testing.assert_close(adj.matrix().to_dense(), expected)
    torch.testing.assert_close(adj.mean_matrix().to_dense(), a / a.sum(1, keepdim=True))
    assert adj.mean_matrix() is adj.mean_matrix()                      # built once per graph
    # unsorted input gives the same matrix
    perm = torch.randperm(ei.size(1), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(NormalizedAdjacency(ei[:, perm], 5).matrix().to_dense(), expected)


def test_empty_rows_small_and_mapped_buffers_are_writable():
    small = empty_rows(10, 4)
    big = empty_rows(70_000, 256)            # 68 MiB: an anonymous memory map
    small[:] = 1.0
    big[-3:] = 2.0
    assert small.shape == (10, 4) and big.shape == (70_000, 256) and big.dtype == torch.float32
    assert float(big[-1].sum()) == 512.0 and float(small.sum()) == 40.0


def test_rows_product_equals_full_matrix_rows():
    from graphfm.nn.propagation import NormalizedAdjacency

    gen = torch.Generator().manual_seed(0)
    ei = torch.randint(0, 30, (2, 120), generator=gen)
    ei = torch.cat([ei, ei.flip(0)], 1)                   # undirected, with duplicates and self-loops
    adj = NormalizedAdjacency(torch.unique(ei, dim=1), 30)
    h = torch.randn(30, 5, generator=gen)
    full = adj.matrix().product(h)
    for a, b in ((0, 30), (3, 11), (29, 30)):
        torch.testing.assert_close(adj.rows_product(a, b, h), full[a:b])
