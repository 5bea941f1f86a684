//! The opcode loop: one arm per opcode family, over the state and helpers
//! of the parent module.

use super::decode::{parse_quoted_string, parse_u64, raw_unicode_escape};
use super::*;

impl<'a, 'o> State<'a, 'o> {
    // ---- main loop ----------------------------------------------------------

    pub(super) fn exec<H: Hooks + ?Sized>(&mut self, hooks: &mut H) -> R<NodeId> {
        if self.start >= self.input.len() {
            if self.input.is_empty() {
                return Err(PickleError::Empty);
            }
            return Err(PickleError::Truncated {
                opcode: "opcode",
                offset: self.start,
                needed: 1,
            });
        }
        loop {
            if let Some(fe) = self.frame_end {
                if self.pos >= fe {
                    self.frame_end = None;
                }
            }
            self.op_start = self.pos;
            self.name = "opcode";
            self.opcodes += 1;
            if self.opcodes > self.opts.limits.max_opcodes {
                return Err(self.limit(LimitKind::Opcodes, self.opts.limits.max_opcodes));
            }
            let code = self.u8()?;
            self.name = op::name(code).ok_or(PickleError::UnknownOpcode {
                byte: code,
                offset: self.op_start,
            })?;
            if let Some(root) = self.step(code, hooks)? {
                return Ok(root);
            }
        }
    }

    fn step<H: Hooks + ?Sized>(&mut self, code: u8, hooks: &mut H) -> R<Option<NodeId>> {
        match code {
            op::PROTO => {
                let v = self.u8()?;
                if self.op_start != self.start {
                    return Err(PickleError::Proto {
                        offset: self.op_start,
                        message: "PROTO is not the first opcode".into(),
                    });
                }
                if v > 5 {
                    return Err(PickleError::Proto {
                        offset: self.op_start,
                        message: format!("unsupported protocol {v}"),
                    });
                }
                self.protocol = v;
            }
            op::FRAME => {
                let n = u64::from_le_bytes(self.arr::<8>()?);
                if self.frame_end.is_some() {
                    return Err(PickleError::Frame {
                        opcode: self.name,
                        offset: self.op_start,
                        message: "FRAME inside an unfinished frame".into(),
                    });
                }
                if self.protocol < 4 {
                    return Err(PickleError::Frame {
                        opcode: self.name,
                        offset: self.op_start,
                        message: format!("FRAME in protocol {}", self.protocol),
                    });
                }
                // A frame longer than the input is not an error yet: the
                // opcodes inside it fail with `Truncated` when they run out of
                // input, while framing tricks (nested FRAME, straddling) are
                // still reported as such.
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                self.frame_end = Some(self.pos.saturating_add(n));
            }
            op::STOP => return self.stop().map(Some),
            op::MARK => {
                if self.marks.len() >= self.opts.limits.max_nesting {
                    return Err(
                        self.limit(LimitKind::NestingDepth, self.opts.limits.max_nesting as u64)
                    );
                }
                self.marks.push(self.stack.len());
            }
            op::POP => {
                if self.stack.len() > self.frame_base() {
                    self.stack.pop();
                } else if self.marks.pop().is_none() {
                    return Err(self.underflow(1));
                }
            }
            op::POP_MARK => {
                self.pop_mark()?;
            }
            op::DUP => {
                let t = self.top()?;
                self.push(t)?;
            }
            // ---- constants
            op::NONE => self.push_value(Value::None)?,
            op::NEWTRUE => self.push_value(Value::Bool(true))?,
            op::NEWFALSE => self.push_value(Value::Bool(false))?,
            op::INT => {
                let l = self.line()?;
                let v = match l {
                    b"00" => Value::Bool(false),
                    b"01" => Value::Bool(true),
                    _ => self.decimal(l)?,
                };
                self.push_value(v)?;
            }
            op::LONG => {
                let mut l = self.line()?;
                if let Some(s) = l.strip_suffix(b"L") {
                    l = s;
                }
                let v = self.decimal(l)?;
                self.push_value(v)?;
            }
            op::BININT => {
                let v = i32::from_le_bytes(self.arr::<4>()?);
                self.push_value(Value::Int(i64::from(v)))?;
            }
            op::BININT1 => {
                let v = self.u8()?;
                self.push_value(Value::Int(i64::from(v)))?;
            }
            op::BININT2 => {
                let v = u16::from_le_bytes(self.arr::<2>()?);
                self.push_value(Value::Int(i64::from(v)))?;
            }
            op::LONG1 => {
                let n = self.u8()? as usize;
                let b = self.take(n)?;
                self.add_long_le(b)?;
            }
            op::LONG4 => {
                let n = i32::from_le_bytes(self.arr::<4>()?);
                let n = u64::try_from(n).map_err(|_| self.bad("negative LONG4 length"))?;
                if n > self.opts.limits.max_long_bytes as u64 {
                    return Err(
                        self.limit(LimitKind::LongBytes, self.opts.limits.max_long_bytes as u64)
                    );
                }
                let n = self.check_len(n)?;
                let b = self.take(n)?;
                self.add_long_le(b)?;
            }
            op::FLOAT => {
                let l = self.line()?;
                let s = std::str::from_utf8(l).map_err(|_| self.bad("non-ASCII float"))?;
                let f: f64 = s
                    .parse()
                    .map_err(|_| self.bad(format!("bad float {s:?}")))?;
                self.push_value(Value::Float(f))?;
            }
            op::BINFLOAT => {
                let f = f64::from_be_bytes(self.arr::<8>()?);
                self.push_value(Value::Float(f))?;
            }
            // ---- strings and bytes
            op::STRING => {
                let l = self.line()?;
                let raw = parse_quoted_string(l).map_err(|m| self.bad(m))?;
                self.add_py2_string(raw)?;
            }
            op::BINSTRING => {
                let n = i32::from_le_bytes(self.arr::<4>()?);
                let n = u64::try_from(n).map_err(|_| self.bad("negative BINSTRING length"))?;
                let n = self.check_len(n)?;
                let b = self.take(n)?;
                self.add_py2_string(b.to_vec())?;
            }
            op::SHORT_BINSTRING => {
                let n = self.u8()? as usize;
                let b = self.take(n)?;
                self.add_py2_string(b.to_vec())?;
            }
            op::UNICODE => {
                let l = self.line()?;
                let s = raw_unicode_escape(l).map_err(|m| self.bad(m))?;
                self.charge(s.len() as u64)?;
                self.push_value(Value::Str(s))?;
            }
            op::BINUNICODE | op::BINBYTES => {
                let n = u64::from(u32::from_le_bytes(self.arr::<4>()?));
                let n = self.check_len(n)?;
                let b = self.take(n)?;
                self.add_str_bytes(b, code == op::BINUNICODE)?;
            }
            op::SHORT_BINUNICODE | op::SHORT_BINBYTES => {
                let n = self.u8()? as usize;
                let b = self.take(n)?;
                self.add_str_bytes(b, code == op::SHORT_BINUNICODE)?;
            }
            op::BINUNICODE8 | op::BINBYTES8 | op::BYTEARRAY8 => {
                let n = u64::from_le_bytes(self.arr::<8>()?);
                let n = self.check_len(n)?;
                let b = self.take(n)?;
                if code == op::BYTEARRAY8 {
                    self.charge(n as u64)?;
                    self.push_value(Value::ByteArray(b.to_vec()))?;
                } else {
                    self.add_str_bytes(b, code == op::BINUNICODE8)?;
                }
            }
            op::NEXT_BUFFER | op::READONLY_BUFFER => {
                return Err(PickleError::Unsupported {
                    opcode: self.name,
                    offset: self.op_start,
                    reason: "out-of-band buffers are not supported",
                })
            }
            op::EXT1 | op::EXT2 | op::EXT4 => {
                // Operand widths and signedness as CPython's load_ext1/2/4.
                let ext = match code {
                    op::EXT1 => i64::from(self.u8()?),
                    op::EXT2 => i64::from(u16::from_le_bytes(self.arr::<2>()?)),
                    _ => i64::from(i32::from_le_bytes(self.arr::<4>()?)),
                };
                if ext <= 0 {
                    // copyreg only registers codes 1..=0x7fffffff: a loader fails here.
                    return Err(self.bad(format!("extension code {ext} is never registered")));
                }
                let id = self.extension_global(ext)?;
                self.push(id)?;
            }
            // ---- containers
            op::EMPTY_TUPLE => self.push_container(Value::Tuple(Vec::new()), &[])?,
            op::EMPTY_LIST => self.push_container(Value::List(Vec::new()), &[])?,
            op::EMPTY_DICT => self.push_container(Value::Dict(Vec::new()), &[])?,
            op::EMPTY_SET => self.push_container(Value::Set(Vec::new()), &[])?,
            op::TUPLE1 | op::TUPLE2 | op::TUPLE3 => {
                let n = usize::from(code - op::TUPLE1 + 1);
                if self.stack.len() < self.frame_base() + n {
                    return Err(self.underflow(n));
                }
                let items = self.stack.split_off(self.stack.len() - n);
                self.push_container(Value::Tuple(items.clone()), &items)?;
            }
            op::TUPLE => {
                let items = self.pop_mark()?;
                self.push_container(Value::Tuple(items.clone()), &items)?;
            }
            op::LIST => {
                let items = self.pop_mark()?;
                self.push_container(Value::List(items.clone()), &items)?;
            }
            op::FROZENSET => {
                let items = self.pop_mark()?;
                self.check_hashable(&items);
                self.push_container(Value::FrozenSet(items.clone()), &items)?;
            }
            op::DICT => {
                let items = self.pop_mark()?;
                let pairs = self.pairs(&items)?;
                self.push_container(Value::Dict(pairs), &items)?;
            }
            op::APPEND => {
                let v = self.pop()?;
                self.append(&[v])?;
            }
            op::APPENDS => {
                let items = self.pop_mark()?;
                self.append(&items)?;
            }
            op::SETITEM => {
                let v = self.pop()?;
                let k = self.pop()?;
                self.setitems(&[k, v])?;
            }
            op::SETITEMS => {
                let items = self.pop_mark()?;
                self.setitems(&items)?;
            }
            op::ADDITEMS => {
                let items = self.pop_mark()?;
                let t = self.top()?;
                self.charge(8 * items.len() as u64)?;
                self.bump_depth(t, &items)?;
                self.check_hashable(&items);
                match self.graph.get_mut(t) {
                    Some(Value::Set(s)) => s.extend(items),
                    _ => return Err(self.bad_target(t)),
                }
            }
            // ---- memo
            op::PUT => {
                let l = self.line()?;
                let k = parse_u64(l).ok_or_else(|| self.bad("bad memo key"))?;
                self.memo_put(k)?;
            }
            op::BINPUT => {
                let k = u64::from(self.u8()?);
                self.memo_put(k)?;
            }
            op::LONG_BINPUT => {
                let k = u64::from(u32::from_le_bytes(self.arr::<4>()?));
                self.memo_put(k)?;
            }
            op::MEMOIZE => {
                let k = self.memo.len() as u64;
                self.memo_put(k)?;
            }
            op::GET => {
                let l = self.line()?;
                let k = parse_u64(l).ok_or_else(|| self.bad("bad memo key"))?;
                self.memo_get(k)?;
            }
            op::BINGET => {
                let k = u64::from(self.u8()?);
                self.memo_get(k)?;
            }
            op::LONG_BINGET => {
                let k = u64::from(u32::from_le_bytes(self.arr::<4>()?));
                self.memo_get(k)?;
            }
            // ---- globals and calls
            op::GLOBAL => {
                let (m, n) = self.text_global()?;
                let id = self.add_global(m, n)?;
                self.push(id)?;
            }
            op::STACK_GLOBAL => {
                let name = self.pop()?;
                let module = self.pop()?;
                let id = match (self.value(module), self.value(name)) {
                    (Value::Str(m), Value::Str(n)) => {
                        let (m, n) = (m.clone(), n.clone());
                        self.add_global(m, n)?
                    }
                    (mv, nv) => {
                        let m = format!("<dynamic {}>", mv.type_name());
                        let n = format!("<dynamic {}>", nv.type_name());
                        self.finding(
                            FindingKind::DynamicGlobal,
                            Severity::Dangerous,
                            format!("STACK_GLOBAL operands are not string constants ({m}, {n})"),
                        );
                        self.record_global(
                            m.clone(),
                            n.clone(),
                            GlobalClass::Dangerous {
                                reason: crate::classify::DangerReason::DynamicName,
                            },
                        );
                        self.new_node(Value::Global { module: m, name: n }, 0)?
                    }
                };
                self.push(id)?;
            }
            op::INST => {
                let (m, n) = self.text_global()?;
                let cls = self.add_global(m, n)?;
                let items = self.pop_mark()?;
                let args = self.tuple_node(items)?;
                self.push_call(CallKind::Inst, cls, args, None)?;
            }
            op::OBJ => {
                let mut items = self.pop_mark()?;
                if items.is_empty() {
                    return Err(self.underflow(1));
                }
                let cls = items.remove(0);
                self.expect_callable(cls)?;
                let args = self.tuple_node(items)?;
                self.push_call(CallKind::Obj, cls, args, None)?;
            }
            op::REDUCE => {
                let args = self.pop()?;
                let f = self.pop()?;
                self.expect_tuple(args)?;
                self.expect_callable(f)?;
                self.push_call(CallKind::Reduce, f, args, None)?;
            }
            op::NEWOBJ => {
                let args = self.pop()?;
                let cls = self.pop()?;
                self.expect_tuple(args)?;
                self.expect_callable(cls)?;
                self.push_call(CallKind::NewObj, cls, args, None)?;
            }
            op::NEWOBJ_EX => {
                let kwargs = self.pop()?;
                let args = self.pop()?;
                let cls = self.pop()?;
                if !matches!(self.value(kwargs), Value::Dict(_)) {
                    return Err(self.type_err("dict", kwargs));
                }
                self.expect_tuple(args)?;
                self.expect_callable(cls)?;
                self.push_call(CallKind::NewObjEx, cls, args, Some(kwargs))?;
            }
            op::BUILD => {
                let state = self.pop()?;
                let obj = self.top()?;
                self.bump_depth(obj, &[state])?;
                match self.graph.get_mut(obj) {
                    Some(Value::Call(c)) if c.state.is_none() => c.state = Some(state),
                    Some(Value::Call(_)) => {
                        return Err(PickleError::BadTarget {
                            opcode: self.name,
                            offset: self.op_start,
                            target: "object already built",
                        })
                    }
                    _ => return Err(self.bad_target(obj)),
                }
                let res = hooks.after_build(&self.graph, obj, self.input, self.pos);
                let (globals, findings) = hooks.take_findings();
                self.globals.extend(globals);
                self.findings.extend(findings);
                let n = res.map_err(|source| PickleError::Hook {
                    opcode: self.name,
                    offset: self.op_start,
                    source,
                })?;
                if n > 0 {
                    if let Some(fe) = self.frame_end {
                        if fe != self.pos {
                            return Err(PickleError::Frame {
                                opcode: self.name,
                                offset: self.op_start,
                                message: "raw data inside an unfinished frame".into(),
                            });
                        }
                        self.frame_end = None;
                    }
                    let n = self.check_len(n as u64)?;
                    self.pos += n;
                }
            }
            op::PERSID => {
                let l = self.line()?;
                if !l.is_ascii() {
                    return Err(self.bad("non-ASCII persistent id"));
                }
                self.add_str_bytes(l, true)?;
                self.persistent(hooks)?;
            }
            op::BINPERSID => self.persistent(hooks)?,
            _ => {
                return Err(PickleError::UnknownOpcode {
                    byte: code,
                    offset: self.op_start,
                })
            }
        }
        Ok(None)
    }
}
