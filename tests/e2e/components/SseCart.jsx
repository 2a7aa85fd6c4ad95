// The seed manual (cart-realtime-manual.zh.md) §一 SSE, 3.3 "React实现示例", copied unchanged
// (a test fixture: the compatibility target). components.test.mjs checks it against the manual.
import React, { useEffect, useState, useRef } from 'react';

function CartComponent({ tableId }) {
  const [connected, setConnected] = useState(false);
  const [cart, setCart] = useState({ items: [], totalAmount: 0, totalQuantity: 0 });
  const eventSourceRef = useRef(null);

  useEffect(() => {
    // 建立SSE连接
    const url = `/api/store/order/sse/${tableId}`;
    const eventSource = new EventSource(url);
    eventSourceRef.current = eventSource;

    // 连接成功
    eventSource.addEventListener('connected', (event) => {
      console.log('SSE连接成功');
      setConnected(true);
    });

    // 购物车更新
    eventSource.addEventListener('cart_update', (event) => {
      try {
        const cartData = JSON.parse(event.data);
        setCart(cartData);
        console.log('购物车已更新');
      } catch (error) {
        console.error('解析购物车数据失败:', error);
      }
    });

    // 心跳
    eventSource.addEventListener('heartbeat', (event) => {
      console.log('收到心跳');
    });

    // 错误处理
    eventSource.onerror = (error) => {
      console.error('SSE连接错误:', error);
      setConnected(false);
    };

    // 清理函数
    return () => {
      if (eventSourceRef.current) {
        eventSourceRef.current.close();
      }
    };
  }, [tableId]);

  return (
    <div>
      <div>{connected ? '已连接' : '正在连接...'}</div>
      <div>
        {cart.items.map(item => (
          <div key={item.cuisineId}>
            {item.cuisineName} x {item.quantity}
          </div>
        ))}
      </div>
      <div>总金额: {cart.totalAmount}</div>
    </div>
  );
}

export default CartComponent;
